# stress: target=sign_up expect=dropped task
"""Sign-up endpoint (FastAPI). The welcome mail is sent in the background with a bare
create_task(): nothing keeps a reference to the task, so the garbage collector may destroy
it before the mail goes out ("Task was destroyed but it is pending")."""

import asyncio

from fastapi import FastAPI
from pydantic import BaseModel

from .emails import send_welcome

app = FastAPI()


class SignUp(BaseModel):
    email: str
    name: str


@app.post("/signups", status_code=201)
async def sign_up(form: SignUp):
    asyncio.create_task(send_welcome(form.email, form.name))
    return {"email": form.email}
