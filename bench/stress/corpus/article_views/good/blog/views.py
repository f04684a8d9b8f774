"""The count is updated under a lock."""

import threading

from flask import Flask, jsonify

app = Flask(__name__)
view_counts = {}
_counts_lock = threading.Lock()


@app.get("/articles/<slug>")
def show_article(slug):
    with _counts_lock:
        view_counts[slug] = view_counts.get(slug, 0) + 1
        views = view_counts[slug]
    return jsonify(slug=slug, views=views)
