"""Admin API v2 maintenance operations, this node's answer:
``CreateMetadataSnapshot`` and ``LaunchRepairOperation``.

Repairs start background work and answer at once, as Garage's: ``tables``
(an anti-entropy pass of every table now), ``blocks`` (the block store
checked against the reference counts: :mod:`garage_twisted.block.repair`),
``{"scrub": "start" | "pause" | "resume" | "cancel"}`` and ``rebalance``
(blocks moved between data directories: with the one data directory this
node supports, there is nothing to move). Garage's other repairs (versions,
multipart uploads, block references and counts, aliases) are not built and
answer 501 NotImplemented.

An operation a node runs for a peer's request goes on if the peer stops
waiting (its RPC is not cancelled: ``node_scope``).
"""

from garage_twisted.api.admin import errors
from garage_twisted.block.repair import BlockRepair
from garage_twisted.block.scrub import COMMANDS as SCRUB_COMMANDS

REPAIRS = ("tables", "blocks", "versions", "multipartUploads", "blockRefs", "blockRc",
           "rebalance", "scrub", "aliases")


async def create_metadata_snapshot(api, body):
    if api.snapshots is None:
        raise errors.NotImplemented("this node takes no metadata snapshots")
    await api.snapshots.create()
    return None


def check_repair_type(body):
    """``(repair, scrub command or None)`` from Garage's ``repairType``."""
    value = body.get("repairType") if isinstance(body, dict) else None
    if isinstance(value, dict) and len(value) == 1 and "scrub" in value:
        command = value["scrub"]
        if command not in SCRUB_COMMANDS:
            raise errors.BadRequest(f"scrub command must be one of {', '.join(SCRUB_COMMANDS)}")
        return "scrub", command
    if value not in REPAIRS or value == "scrub":
        raise errors.BadRequest('repairType must be one of "' + '", "'.join(
            r for r in REPAIRS if r != "scrub") + '" or {"scrub": "start|pause|resume|cancel"}')
    return value, None


async def launch_repair_operation(api, body):
    repair, command = check_repair_type(body)
    workers = api.workers
    if workers is None:
        raise errors.BadRequest("this node runs no workers")
    if repair == "tables":
        for name in workers.names():
            if name.endswith(" sync"):
                workers.wake(name)
    elif repair == "blocks":
        workers.launch(BlockRepair(api.helper.model.block_manager))
    elif repair == "scrub":
        scrubber = workers.worker("block scrub")
        if scrubber is None:
            raise errors.BadRequest("scrub is disabled on this node (disable_scrub)")
        scrubber.command(command)
        workers.wake("block scrub")
    elif repair == "rebalance":
        if len(api.system.config.data_dirs) > 1:
            raise errors.NotImplemented("rebalance between several data directories is not "
                                        "built")
        # One data directory: every block is where it belongs already.
    else:
        raise errors.NotImplemented(f"the {repair} repair is not built in garage-twisted")
    return None
