"""The scale model of ``scripts/simulate-scale``: one simulated cluster per size.

Each module measures one cost with the project's real code (layout
computation, LayoutGossip, Network/PeerConnection/Mux, Merkle tries and the
table syncer) on fake transports and a virtual clock, and returns plain
dicts that :mod:`scale_model.report` prints. Nothing here is imported by
the node: this is measurement code, kept out of the package.
"""
