"""``/check?domain=``: is a domain one the cluster serves? (Garage's CheckDomain)

Reverse proxies that get TLS certificates on demand (Caddy's ``ask``) call
it before asking a certificate authority for a name, so that a stranger
pointing a name at the proxy does not make it request certificates. A
domain is the cluster's when it names a bucket by its global alias:

- ``<bucket>.<[s3_api] root_domain>``: any bucket (virtual-host S3);
- ``<bucket>.<[s3_web] root_domain>``, or the whole domain as a bucket
  name: a bucket that serves a website.

The names are read by the S3 and web endpoints' own rules, so that a
domain passes exactly when an endpoint would serve it.
"""

from garage_twisted.api.s3.router import bucket_of_host
from garage_twisted.api.web.server import bucket_name_of


async def check_domain(helper, config, domain: str) -> bool:
    """Whether ``domain`` is served by the cluster (see the module's rules).

    :param helper: the model's ``ModelHelper``.
    :param config: the node's ``Config``.
    :returns: a Deferred of a ``bool``.
    """
    name = bucket_of_host(domain, config.s3_api.root_domain)
    must_serve_website = name is None
    if name is None:
        name = bucket_name_of(domain, config.s3_web.root_domain if config.s3_web else "")
    if not name:
        return False
    bucket_id = await helper.resolve_global_alias(name)
    if bucket_id is None:
        return False
    bucket = await helper.get_bucket(bucket_id)
    if bucket is None:
        return False
    if not must_serve_website:
        return True
    return bucket.params is not None and bucket.params.website_config.value is not None
