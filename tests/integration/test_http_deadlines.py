"""HTTP deadlines on a real node's S3 listener: a stalled upload stores nothing."""

from dataclasses import replace

from garage_twisted.api.limits import ListenerLimits
from tests.integration.test_streaming import _NodeWithBucket, deferLater


class HttpDeadlineTests(_NodeWithBucket):
    def shorten(self, **timers):
        site = self.fixture.node.s3_listener.factory
        site.limits = replace(ListenerLimits(), **timers)

    async def test_stalled_upload_is_aborted_and_stores_nothing(self):
        """A streamed PUT whose body stops is cut at the stall timeout: the
        client gets nothing after 100 Continue and no object is visible."""
        self.shorten(body_stall_timeout=0.5)
        client = await self.connect()
        client.transport.write(self.head(5_000_000))
        await client.wait_for(b"100 Continue\r\n\r\n")
        client.transport.write(b"y" * 2_000_000)
        answer = await client.closed
        self.assertEqual(answer.count(b"HTTP/1.1"), 1)  # the 100 Continue alone
        bucket_id = await self.fixture.node.helper.resolve_global_alias("stream")
        for _ in range(50):
            obj = await self.fixture.node.model.object_table.get(bucket_id, b"obj")
            if obj is None or not any(v.is_uploading for v in obj.versions):
                break
            await deferLater(0.05)
        self.assertTrue(obj is None or obj.last_data_version() is None)
        self.assertEqual(self.fixture.node.s3_listener.factory.timeouts, {"request body": 1})

    async def test_trickled_request_line_is_cut(self):
        """A connection that never completes its headers is closed at the
        header deadline with nothing answered, though bytes keep coming."""
        self.shorten(header_timeout=0.5)
        client = await self.connect()
        for byte in b"GET /stream/obj HTT":
            if client.closed.called:
                break
            client.transport.write(bytes([byte]))
            await deferLater(0.1)
        self.assertEqual(await client.closed, b"")
