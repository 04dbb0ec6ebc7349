"""Put/Get/DeleteBucketLifecycleConfiguration: the rules' XML form.

Supported, as AWS: ``Expiration`` (``Days``, ``Date``, or
``ExpiredObjectDeleteMarker`` alone), ``NoncurrentVersionExpiration``
(``NoncurrentDays``, maybe ``NewerNoncurrentVersions``) and
``AbortIncompleteMultipartUpload`` (``DaysAfterInitiation``), filtered by
prefix, object size and tags (``Filter`` with ``Prefix``,
``ObjectSizeGreaterThan``, ``ObjectSizeLessThan``, ``Tag``, or ``And`` of
them; the old top-level ``Prefix`` too). Checked as AWS answers: day counts
are positive integers (InvalidArgument); ``ExpiredObjectDeleteMarker``
beside ``Days`` or ``Date`` is MalformedXML; a rule filtering on tags
cannot abort uploads nor expire delete markers, one filtering on size
cannot expire delete markers (InvalidRequest); ``NewerNoncurrentVersions``
needs a ``Filter`` (InvalidRequest, "Lifecycle V2"). ``Transition`` and
``NoncurrentVersionTransition`` answer ``NotImplemented``: there are no
storage classes here. The rules are applied by the daily
:class:`~garage_twisted.model.lifecycle.LifecycleWorker`, which documents
what each action does (versioned buckets and Object Lock included).
"""

import re
import secrets
from datetime import date

from garage_twisted.api.s3 import errors
from garage_twisted.api.s3.bucket_config import BucketConfigOps
from garage_twisted.api.s3.tagging import checked
from garage_twisted.api.s3.xml import children, document, element, local_name, parse_document

MAX_BODY = 256 * 1024
# Tags in one rule's filter (AWS allows up to the object limit).
MAX_FILTER_TAGS = 10
MAX_RULES = 1000
# No storage classes here, so nothing to transition to.
UNSUPPORTED = {"Transition": "transitions between storage classes",
               "NoncurrentVersionTransition": "transitions of noncurrent versions between "
                                              "storage classes"}
MAX_ID_LENGTH = 255
# The rule dict's fields that are actions (a rule needs one).
ACTIONS = ("expire_days", "expire_date", "expire_delete_marker", "noncurrent_days",
           "abort_mpu_days")
# An expiration date is a day: midnight UTC, as S3 requires.
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(T00:00:00(\.0+)?(Z|\+00:00))?")


def _rule_id(parts) -> str:
    """The rule's ID, or one made up (S3 names every rule)."""
    if "ID" not in parts:
        return secrets.token_urlsafe(36)
    rule_id = parts["ID"].text or ""
    if len(rule_id) > MAX_ID_LENGTH:
        raise errors.InvalidArgument(f"ID length should not exceed allowed limit of "
                                     f"{MAX_ID_LENGTH}")
    return rule_id


def _expiration_date(node) -> str:
    text = (node.text or "").strip()
    match = _DATE.fullmatch(text)
    try:
        return date.fromisoformat(match.group(1)).isoformat()
    except (AttributeError, ValueError):
        raise errors.InvalidArgument("'Date' must be at midnight GMT (ISO 8601, e.g. "
                                     "2030-01-01T00:00:00Z)") from None


def _positive_int(node, what: str, minimum: int = 1) -> int:
    try:
        value = int((node.text or "").strip())
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise errors.InvalidArgument(
            f"{what} must be a {'positive' if minimum else 'non-negative'} integer")
    return value


def _boolean(node, what: str) -> bool:
    text = (node.text or "").strip()
    if text not in ("true", "false"):
        raise errors.MalformedXML(f"{what} must be true or false")
    return text == "true"


def _expiration(rule: dict, node) -> None:
    expiration = children(node)
    if "ExpiredObjectDeleteMarker" in expiration:
        if "Days" in expiration or "Date" in expiration:
            raise errors.MalformedXML("ExpiredObjectDeleteMarker cannot be specified with "
                                      "Days or Date in a Lifecycle Expiration Policy")
        rule["expire_delete_marker"] = _boolean(expiration["ExpiredObjectDeleteMarker"],
                                                "ExpiredObjectDeleteMarker")
    elif "Days" in expiration:
        rule["expire_days"] = _positive_int(expiration["Days"],
                                            "'Days' for Expiration action")
    elif "Date" in expiration:
        rule["expire_date"] = _expiration_date(expiration["Date"])
    else:
        raise errors.MalformedXML("Expiration needs Days, Date or ExpiredObjectDeleteMarker")


def _noncurrent_expiration(rule: dict, node, has_filter: bool) -> None:
    fields = children(node)
    if "NoncurrentDays" not in fields:
        raise errors.MalformedXML("NoncurrentVersionExpiration needs NoncurrentDays")
    rule["noncurrent_days"] = _positive_int(
        fields["NoncurrentDays"], "'NoncurrentDays' for NoncurrentVersionExpiration action")
    if "NewerNoncurrentVersions" in fields:
        if not has_filter:
            raise errors.InvalidRequest("NewerNoncurrentVersions element can only be used "
                                        "in Lifecycle V2.")
        rule["newer_noncurrent"] = _positive_int(
            fields["NewerNoncurrentVersions"],
            "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action")


def _filter(rule: dict, node) -> None:
    for child in node:
        name = local_name(child.tag)
        if name == "And":
            _filter(rule, child)
        elif name == "Prefix":
            rule["prefix"] = child.text or ""
        elif name == "ObjectSizeGreaterThan":
            rule["size_gt"] = _positive_int(child, "ObjectSizeGreaterThan", minimum=0)
        elif name == "ObjectSizeLessThan":
            rule["size_lt"] = _positive_int(child, "ObjectSizeLessThan")
        elif name == "Tag":
            fields = children(child)
            if "Key" not in fields:
                raise errors.MalformedXML("a lifecycle filter's Tag needs a Key")
            rule.setdefault("tags", []).append(
                [fields["Key"].text or "", fields["Value"].text or ""
                 if "Value" in fields else ""])


def parse_lifecycle(body: bytes) -> list:
    root = parse_document(body, "LifecycleConfiguration")
    rules = []
    for node in root:
        if local_name(node.tag) != "Rule":
            continue
        parts = children(node)
        for name in parts:
            if name in UNSUPPORTED:
                raise errors.NotImplemented(f"lifecycle {name} is not supported: there are "
                                            f"no {UNSUPPORTED[name]} here")
        status = (parts["Status"].text or "").strip() if "Status" in parts else None
        if status not in ("Enabled", "Disabled"):
            raise errors.MalformedXML("each Rule needs a Status of Enabled or Disabled")
        rule = {"id": _rule_id(parts),
                "enabled": status == "Enabled", "prefix": None, "size_gt": None,
                "size_lt": None, "expire_days": None, "expire_date": None,
                "expire_delete_marker": None, "noncurrent_days": None,
                "newer_noncurrent": None, "abort_mpu_days": None}
        if "Filter" in parts:
            _filter(rule, parts["Filter"])
        elif "Prefix" in parts:
            # The older form, given back as it came.
            rule["prefix"] = parts["Prefix"].text or ""
            rule["top_level_prefix"] = True
        if "Expiration" in parts:
            _expiration(rule, parts["Expiration"])
        if "NoncurrentVersionExpiration" in parts:
            _noncurrent_expiration(rule, parts["NoncurrentVersionExpiration"],
                                   "Filter" in parts)
        if "AbortIncompleteMultipartUpload" in parts:
            abort = children(parts["AbortIncompleteMultipartUpload"])
            if "DaysAfterInitiation" not in abort:
                raise errors.MalformedXML("AbortIncompleteMultipartUpload needs "
                                          "DaysAfterInitiation")
            rule["abort_mpu_days"] = _positive_int(abort["DaysAfterInitiation"],
                                                   "DaysAfterInitiation")
        if rule.get("tags"):
            rule["tags"] = [list(t) for t in checked(map(tuple, rule["tags"]),
                                                        MAX_FILTER_TAGS)]
            if rule["abort_mpu_days"] is not None:
                raise errors.InvalidRequest("AbortIncompleteMultipartUpload cannot be "
                                            "specified with Tags.")
            if rule["expire_delete_marker"] is not None:
                raise errors.InvalidRequest("ExpiredObjectDeleteMarker cannot be specified "
                                            "with Tags.")
        if rule["expire_delete_marker"] is not None and \
                (rule["size_gt"] is not None or rule["size_lt"] is not None):
            raise errors.InvalidRequest("ExpiredObjectDeleteMarker cannot be specified with "
                                        "Object Size.")
        if all(rule[action] is None for action in ACTIONS):
            raise errors.MalformedXML("a lifecycle Rule needs at least one action")
        rules.append(rule)
    if not rules or len(rules) > MAX_RULES:
        raise errors.MalformedXML(f"a lifecycle configuration has 1 to {MAX_RULES} rules")
    ids = [rule["id"] for rule in rules]
    if len(set(ids)) != len(ids):
        raise errors.InvalidArgument("Rule ID must be unique. Found same ID for more than "
                                     "one rule")
    return rules


def lifecycle_xml(rules: list) -> bytes:
    parts = []
    for rule in rules:
        inner = element("ID", rule["id"]) if rule.get("id") else ""
        conditions = []
        if rule.get("prefix") is not None:
            conditions.append(element("Prefix", rule["prefix"]))
        if rule.get("size_gt") is not None:
            conditions.append(element("ObjectSizeGreaterThan", rule["size_gt"]))
        if rule.get("size_lt") is not None:
            conditions.append(element("ObjectSizeLessThan", rule["size_lt"]))
        for key, value in rule.get("tags") or ():
            conditions.append("<Tag>" + element("Key", key) + element("Value", value)
                              + "</Tag>")
        if rule.get("top_level_prefix"):
            inner += element("Prefix", rule["prefix"])
        elif len(conditions) > 1:
            inner += "<Filter><And>" + "".join(conditions) + "</And></Filter>"
        else:
            inner += "<Filter>" + "".join(conditions) + "</Filter>"
        inner += element("Status", "Enabled" if rule["enabled"] else "Disabled")
        if rule.get("expire_days") is not None:
            inner += "<Expiration>" + element("Days", rule["expire_days"]) + "</Expiration>"
        elif rule.get("expire_date") is not None:
            inner += "<Expiration>" + element("Date", rule["expire_date"] + "T00:00:00Z") + \
                "</Expiration>"
        elif rule.get("expire_delete_marker") is not None:
            inner += "<Expiration>" + element(
                "ExpiredObjectDeleteMarker",
                "true" if rule["expire_delete_marker"] else "false") + "</Expiration>"
        if rule.get("noncurrent_days") is not None:
            inner += "<NoncurrentVersionExpiration>" + element("NoncurrentDays",
                                                               rule["noncurrent_days"])
            if rule.get("newer_noncurrent") is not None:
                inner += element("NewerNoncurrentVersions", rule["newer_noncurrent"])
            inner += "</NoncurrentVersionExpiration>"
        if rule.get("abort_mpu_days") is not None:
            inner += ("<AbortIncompleteMultipartUpload>"
                      + element("DaysAfterInitiation", rule["abort_mpu_days"])
                      + "</AbortIncompleteMultipartUpload>")
        parts.append("<Rule>" + inner + "</Rule>")
    return document("LifecycleConfiguration", parts)


# PUT/GET/DELETE of the bucket's lifecycle_config.
_OPS = BucketConfigOps("lifecycle_config", parse_lifecycle, lifecycle_xml, MAX_BODY,
                       errors.NoSuchLifecycleConfiguration,
                       "The lifecycle configuration does not exist")
put_bucket_lifecycle = _OPS.put
get_bucket_lifecycle = _OPS.get
delete_bucket_lifecycle = _OPS.delete
