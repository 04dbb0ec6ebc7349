"""Cut a byte stream arriving in pieces of any size into fixed-size blocks.

Sans-IO: ``feed`` pieces, get back complete blocks of exactly ``block_size``
bytes; ``flush`` returns the short remainder. Pieces are kept in a list and
joined once per block, so 64 KiB network reads into 1 MiB blocks cost one
copy per byte.
"""


class Chunker:
    def __init__(self, block_size: int):
        if block_size <= 0:
            raise ValueError("block_size must be positive")
        self.block_size = block_size
        self._pieces: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the blocks it completed (maybe none)."""
        blocks = []
        size = self.block_size
        view = memoryview(data)
        while len(view):
            room = size - self._size
            take = view[:room]
            self._pieces.append(bytes(take) if len(take) < len(data) else data)
            self._size += len(take)
            view = view[room:]
            if self._size == size:
                blocks.append(self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces))
                self._pieces = []
                self._size = 0
        return blocks

    def flush(self) -> bytes | None:
        """The buffered remainder, or ``None`` if nothing is buffered."""
        if not self._size:
            return None
        block = b"".join(self._pieces)
        self._pieces = []
        self._size = 0
        return block
