"""GetBucketInfo's answer for one bucket: its settings (``render.bucket_info``)
and its counts, walked from the object table."""

from garage_twisted.api.admin import render

STATS_BATCH = 1000


async def bucket_stats(api, bucket_id) -> dict:
    """Objects, bytes and unfinished uploads, counted by walking the bucket.

    A walk costs a read of the bucket's object rows, in batches that yield
    to the reactor; per-bucket counters kept up to date by the object table
    replace it when the counter tables exist.
    """
    table = api.helper.model.object_table
    stats = {"objects": 0, "bytes": 0, "unfinished_uploads": 0}
    cursor = None
    while True:
        batch = await table.get_range(bucket_id, cursor, None, limit=STATS_BATCH)
        for obj in batch:
            version = obj.last_data_version()
            if version is not None:
                stats["objects"] += 1
                stats["bytes"] += version.data.meta.size
            stats["unfinished_uploads"] += sum(1 for v in obj.versions if v.is_uploading)
        if len(batch) < STATS_BATCH:
            return stats
        cursor = batch[-1].sort_key() + b"\x00"


async def bucket_info(api, bucket):
    keys = {k.key_id: k for k in await api.helper.list_keys()}
    return render.bucket_info(bucket, keys, await bucket_stats(api, bucket.bucket_id))
