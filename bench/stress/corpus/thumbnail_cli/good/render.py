"""Previews rendered by an external tool, run as an asyncio subprocess."""

import asyncio


async def render_preview(job, output_dir):
    process = await asyncio.create_subprocess_exec(
        "convert", job.source, f"{output_dir}/{job.id}.png"
    )
    await process.wait()
    await job.mark_done()
    return job.id
