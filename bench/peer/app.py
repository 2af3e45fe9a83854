"""What a Telnyx user writes instead of Callflow (issue 21): a FastAPI webhook app on uvicorn
(uvloop, httptools) that verifies each webhook with the official `telnyx` SDK's
`webhooks.unwrap`, dedupes on data.id in memory (which flatters it: nothing is durable), and sends
the `answer` of each call.initiated with the SDK's async client to the same loopback sink.
Run by bench/ingest.sh in its own virtual environment (bench/peer/requirements.txt)."""
import asyncio
import json
import os

from fastapi import FastAPI, Request, Response
from telnyx import AsyncTelnyx

client = AsyncTelnyx(
    api_key=os.environ["TELNYX_API_KEY"],
    base_url=os.environ["TELNYX_API_BASE_URL"],
    public_key=os.environ["TELNYX_PUBLIC_KEY"],
)
seen: set[str] = set()
tasks: set[asyncio.Task] = set()
app = FastAPI()


async def answer(call_control_id: str, command_id: str) -> None:
    try:
        await client.calls.actions.answer(call_control_id, command_id=command_id)
    except Exception:  # a failed command is logged by nobody, as in a typical app
        pass


@app.post("/webhooks/telnyx")
async def webhook(request: Request) -> Response:
    body = (await request.body()).decode()
    try:
        client.webhooks.unwrap(body, headers=dict(request.headers))
    except Exception:
        return Response(status_code=401)
    data = json.loads(body).get("data", {})
    event_id = data.get("id", "")
    if event_id in seen:
        return Response(content='{"status":"duplicate"}', media_type="application/json")
    seen.add(event_id)
    payload = data.get("payload", {})
    if data.get("event_type") == "call.initiated" and payload.get("call_control_id"):
        task = asyncio.create_task(answer(payload["call_control_id"], "peer-" + event_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return Response(content='{"status":"ok"}', media_type="application/json")
