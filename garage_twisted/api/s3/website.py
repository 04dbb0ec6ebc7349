"""Put/Get/DeleteBucketWebsite: a bucket's website configuration.

Stored in the bucket's ``website_config`` register as a dict:
``index_document`` (the ``IndexDocument`` suffix), ``error_document``
(key, or None), ``redirect_all`` (``{"host", "protocol"}`` or None) and
``routing_rules`` (list of ``{"prefix", "error_code", "host", "protocol",
"code", "replace_prefix", "replace_key"}``). ``garage bucket website
--allow`` writes the same register with an index and error document. The web
endpoint (:mod:`garage_twisted.api.web`) serves what it says.
"""

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.bucket_config import BucketConfigOps
from garage_twisted.api.s3.xml import children, document, element, parse_document

MAX_BODY = 64 * 1024
MAX_RULES = 50




def _text(parts: dict, name: str) -> str | None:
    node = parts.get(name)
    return None if node is None else (node.text or "").strip()


def parse_website(body: bytes) -> dict:
    root = parse_document(body, "WebsiteConfiguration")
    parts = children(root)
    config = {"index_document": None, "error_document": None, "redirect_all": None,
              "routing_rules": []}
    if "RedirectAllRequestsTo" in parts:
        redirect = children(parts["RedirectAllRequestsTo"])
        host = _text(redirect, "HostName")
        if not host:
            raise errors.InvalidArgument("RedirectAllRequestsTo needs a HostName")
        config["redirect_all"] = {"host": host, "protocol": _text(redirect, "Protocol")}
        if len(parts) > 1:
            raise errors.InvalidArgument("RedirectAllRequestsTo cannot be combined with "
                                         "other website settings")
        return config
    if "IndexDocument" not in parts:
        raise errors.InvalidArgument("A value for IndexDocument Suffix must be provided if "
                                     "RedirectAllRequestsTo is empty")
    suffix = _text(children(parts["IndexDocument"]), "Suffix")
    if not suffix or "/" in suffix:
        raise errors.InvalidArgument("The IndexDocument Suffix is not well formed")
    config["index_document"] = suffix
    if "ErrorDocument" in parts:
        config["error_document"] = _text(children(parts["ErrorDocument"]), "Key") or None
    if "RoutingRules" in parts:
        for node in parts["RoutingRules"]:
            rule = children(node)
            condition = children(rule["Condition"]) if "Condition" in rule else {}
            if "Redirect" not in rule:
                raise errors.InvalidArgument("a RoutingRule needs a Redirect")
            redirect = children(rule["Redirect"])
            entry = {"prefix": _text(condition, "KeyPrefixEquals"),
                     "error_code": _text(condition, "HttpErrorCodeReturnedEquals"),
                     "host": _text(redirect, "HostName"),
                     "protocol": _text(redirect, "Protocol"),
                     "code": _text(redirect, "HttpRedirectCode") or "301",
                     "replace_prefix": _text(redirect, "ReplaceKeyPrefixWith"),
                     "replace_key": _text(redirect, "ReplaceKeyWith")}
            if entry["replace_prefix"] is not None and entry["replace_key"] is not None:
                raise errors.InvalidArgument("ReplaceKeyPrefixWith and ReplaceKeyWith cannot "
                                             "both be given")
            if entry["code"] not in ("301", "302", "303", "307", "308"):
                raise errors.InvalidArgument("HttpRedirectCode must be a 3xx redirect code")
            config["routing_rules"].append(entry)
        if len(config["routing_rules"]) > MAX_RULES:
            raise errors.InvalidArgument(f"at most {MAX_RULES} routing rules")
    return config


def website_xml(config: dict) -> bytes:
    if config.get("redirect_all"):
        redirect = config["redirect_all"]
        inner = element("HostName", redirect["host"])
        if redirect.get("protocol"):
            inner += element("Protocol", redirect["protocol"])
        return document("WebsiteConfiguration",
                        ["<RedirectAllRequestsTo>" + inner + "</RedirectAllRequestsTo>"])
    parts = ["<IndexDocument>" + element("Suffix", config.get("index_document")
                                         or "index.html") + "</IndexDocument>"]
    if config.get("error_document"):
        parts.append("<ErrorDocument>" + element("Key", config["error_document"])
                     + "</ErrorDocument>")
    rules = config.get("routing_rules") or []
    if rules:
        out = []
        for rule in rules:
            condition = ""
            if rule.get("prefix") is not None:
                condition += element("KeyPrefixEquals", rule["prefix"])
            if rule.get("error_code") is not None:
                condition += element("HttpErrorCodeReturnedEquals", rule["error_code"])
            redirect = ""
            for field, name in (("host", "HostName"), ("protocol", "Protocol"),
                                ("code", "HttpRedirectCode"),
                                ("replace_prefix", "ReplaceKeyPrefixWith"),
                                ("replace_key", "ReplaceKeyWith")):
                if rule.get(field) is not None:
                    redirect += element(name, rule[field])
            out.append("<RoutingRule>" + (f"<Condition>{condition}</Condition>"
                                          if condition else "")
                       + f"<Redirect>{redirect}</Redirect></RoutingRule>")
        parts.append("<RoutingRules>" + "".join(out) + "</RoutingRules>")
    return document("WebsiteConfiguration", parts)


# PUT/GET/DELETE of the bucket's website_config.
_OPS = BucketConfigOps("website_config", parse_website, website_xml, MAX_BODY,
                       errors.NoSuchWebsiteConfiguration,
                       "The specified bucket does not have a website configuration")
put_bucket_website = _OPS.put
get_bucket_website = _OPS.get
delete_bucket_website = _OPS.delete
