"""Adversarial tests: each attack that once broke the node (hostile or
malformed input, slow and vanishing clients, a full or failing disk, a peer
that lies, a restart at the worst moment), kept as a test that fails without
its fix. Bounded in time like the rest of the suite."""

__all__: list[str] = []
