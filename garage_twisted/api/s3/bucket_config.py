"""PUT, GET and DELETE of a bucket configuration kept in the bucket's params.

CORS rules, lifecycle rules and the website configuration are each one
field of the bucket's parameters (a last-writer-wins register), read from
an XML document, answered as one, and removed by DELETE.
:class:`BucketConfigOps` is that pattern once; each module gives its field,
parser, renderer, body limit and the S3 error for "not configured".
"""

from dataclasses import dataclass
from typing import Callable

from garage_twisted.api.s3.body import read_small_body
from garage_twisted.api.s3.context import RequestContext, respond


@dataclass(frozen=True)
class BucketConfigOps:
    field: str  # the bucket params attribute (``cors_config``...)
    parse: Callable  # XML bytes -> stored value (raises an S3 error)
    render: Callable  # stored value -> XML bytes
    max_body: int
    missing: type  # the S3 error class when nothing is configured
    missing_message: str

    async def put(self, ctx: RequestContext) -> bytes:
        value = self.parse(await read_small_body(ctx, self.max_body))
        await ctx.api.helper.set_bucket_config(ctx.bucket_id, self.field, value)
        return respond(ctx.request)

    async def get(self, ctx: RequestContext) -> bytes:
        value = getattr(ctx.bucket.params, self.field).value
        if not value:
            raise self.missing(self.missing_message, extra={"BucketName": ctx.endpoint.bucket})
        return respond(ctx.request, self.render(value))

    async def delete(self, ctx: RequestContext) -> bytes:
        await ctx.api.helper.set_bucket_config(ctx.bucket_id, self.field, None)
        return respond(ctx.request, status=204)
