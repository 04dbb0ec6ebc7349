"""Admin API v2 worker operations, this node's answer: ``ListWorkers``,
``GetWorkerInfo``, ``GetWorkerVariable``, ``SetWorkerVariable``.

A worker's id is given when it is added and never reused, as Garage's task
ids. Shapes are Garage's
``WorkerInfoResp``: the runner's :class:`~garage_twisted.util.worker.WorkerState`
becomes Garage's string here and only here (``"busy"``, ``"idle"``,
``"done"``); a worker waiting out the back-off after an error
(``THROTTLED``) is ``{"throttled": {"durationSecs": s}}``, as Garage shows a
worker that sleeps before its next step.
"""

from garage_twisted.api.admin import errors
from garage_twisted.util.worker import WorkerState

# Where a worker's status gives the length of its queue (``/metrics``
# shows the same figure as ``worker_queue_length``). Each is read from its
# tree's running count (db/counts.py), never by walking the tree: ``None``
# while the count at start is under way.
QUEUE_STATUS_KEYS = ("todo_length", "queue_length", "gc_todo_length")


def queue_length(status: dict):
    """The length of the queue a worker's status names, or ``None``."""
    for key in QUEUE_STATUS_KEYS:
        if status.get(key) is not None:
            return status[key]
    return None


def _state_json(info):
    """Garage's ``WorkerStateResp`` of ``info.state``."""
    if info.state is WorkerState.THROTTLED:
        return {"throttled": {"durationSecs": round(info.next_step_in or 0.0, 3)}}
    return info.state.value


def _worker_json(info, now: float) -> dict:
    status = info.status
    last_error = None
    if info.last_error is not None:
        last_error = {"message": info.last_error,
                      "secsAgo": int(max(0.0, now - (info.last_error_at or now)))}
    queue = queue_length(status)
    progress = None
    if "checked_this_pass" in status:  # the scrubber
        progress = f"{status['checked_this_pass']} blocks checked, at {status['position']}"
    return {"id": info.id, "name": info.name, "state": _state_json(info), "errors": info.errors,
            "consecutiveErrors": info.consecutive_errors, "lastError": last_error,
            "tranquility": info.tranquility, "progress": progress, "queueLength": queue,
            "persistentErrors": status.get("blocks_with_errors"),
            "freeform": [f"{k}: {v}" for k, v in status.items()]}


def _workers(api, worker_id: int | None = None) -> list:
    return api.workers.list_workers(worker_id) if api.workers is not None else []


async def list_workers(api, body):
    body = body if isinstance(body, dict) else {}
    busy_only, error_only = bool(body.get("busyOnly")), bool(body.get("errorOnly"))
    now = api.clock.seconds()
    return [_worker_json(info, now) for info in _workers(api)
            if (not busy_only or info.state in (WorkerState.BUSY, WorkerState.THROTTLED))
            and (not error_only or info.errors > 0)]


def check_worker_id(body) -> int:
    worker_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(worker_id, int) or isinstance(worker_id, bool):
        raise errors.BadRequest('give {"id": <worker id>}')
    return worker_id


def check_get_variable(body):
    name = body.get("variable") if isinstance(body, dict) else None
    if name is not None and not isinstance(name, str):
        raise errors.BadRequest("variable must be a string")
    return name


def check_set_variable(body):
    if not isinstance(body, dict) or not isinstance(body.get("variable"), str) \
            or not isinstance(body.get("value"), str):
        raise errors.BadRequest('give {"variable": <name>, "value": <string>}')
    return body["variable"], body["value"]


async def get_worker_info(api, body):
    worker_id = check_worker_id(body)
    for info in _workers(api, worker_id):
        return _worker_json(info, api.clock.seconds())
    raise errors.NoSuchWorker(f"No worker with id {worker_id}")


async def get_worker_variable(api, body):
    """``{"variable": name}`` -> ``{name: value}``; no name: every variable."""
    name = check_get_variable(body)
    if api.workers is None:
        return {}
    if name is None:
        return {n: v.get() for n, v in sorted(api.workers.variables().items())}
    return {name: api.workers.get_variable(name)}


async def set_worker_variable(api, body):
    name, value = check_set_variable(body)
    if api.workers is None:
        raise errors.BadRequest("this node has no workers")
    return {"variable": name, "value": api.workers.set_variable(name, value)}
