# stress: target=render_preview expect=event loop blocked
"""Previews rendered by an external tool, run with subprocess.run inside the coroutine."""

import subprocess


async def render_preview(job, output_dir):
    subprocess.run(["convert", job.source, f"{output_dir}/{job.id}.png"], check=True)
    await job.mark_done()
    return job.id
