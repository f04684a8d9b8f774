"""The background tasks are kept in a set until they finish."""

import asyncio

from fastapi import FastAPI
from pydantic import BaseModel

from .emails import send_welcome

app = FastAPI()
_background = set()


class SignUp(BaseModel):
    email: str
    name: str


@app.post("/signups", status_code=201)
async def sign_up(form: SignUp):
    task = asyncio.create_task(send_welcome(form.email, form.name))
    _background.add(task)
    task.add_done_callback(_background.discard)
    return {"email": form.email}
