"""A minimal Flask app: the single-HTTP-hop baseline that benchmarks compare the services against."""
from flask import Flask, jsonify, request


def create_app():
    app = Flask("echo")

    @app.post("/echo")
    def echo():
        return jsonify(request.get_json(silent=True) or {}), 201

    @app.get("/health")
    def health():
        return jsonify({"status": "ok"})

    return app
