# stress: target=RH402@ expect=lost updates
"""A Flask blog counts article views in memory and flushes them to the database every
minute. Flask serves each request on its own thread; the count is read and written back
without a lock, so concurrent readers of the same article lose views."""

from flask import Flask, jsonify

app = Flask(__name__)
view_counts = {}


@app.get("/articles/<slug>")
def show_article(slug):
    view_counts[slug] = view_counts.get(slug, 0) + 1
    return jsonify(slug=slug, views=view_counts[slug])
