"""A small OpenAI-compatible completions server for tests, serving a real (tiny) transformers
model: text and log-probabilities are the model's own. Bounded: loopback only, stopped by
the fixture. `fail_next` makes the next requests answer a given HTTP status (429, 503)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import torch


class ModelServer:
    def __init__(self, model_dir: str) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.tok.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self.lock = threading.Lock()
        self.fail_next: list[int] = []
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                server.requests += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if server.fail_next:
                    code = server.fail_next.pop(0)
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": "try later"}')
                    return
                if self.path != "/v1/completions":
                    self.send_response(404)
                    self.end_headers()
                    return
                reply = server.complete(body)
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ModelServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt, n = body["prompt"], int(body.get("n", 1))
        max_tokens, temperature = (
            int(body.get("max_tokens", 16)),
            float(body.get("temperature", 1.0)),
        )
        enc = self.tok([prompt], return_tensors="pt", add_special_tokens=False)
        choices, total = [], 0
        with self.lock, torch.inference_mode():
            if body.get("seed") is not None:
                torch.manual_seed(int(body["seed"]))
            first_logp = torch.log_softmax(self.model(**enc).logits[0, -1].float(), -1)
            kw = {"do_sample": temperature > 0, "max_new_tokens": max_tokens,
                  "pad_token_id": self.tok.pad_token_id, "num_return_sequences": n}  # fmt: skip
            if temperature > 0:
                kw.update(temperature=temperature, top_p=float(body.get("top_p", 1.0)), top_k=0)
            out = self.model.generate(**enc, **kw)[:, enc["input_ids"].shape[1] :]
        for i, row in enumerate(out.tolist()):
            ids, finish = row, "length"
            if self.tok.eos_token_id in row:
                ids, finish = row[: row.index(self.tok.eos_token_id) + 1], "stop"
            total += len(ids)
            choice: dict[str, Any] = {"index": i, "text": self.tok.decode(ids, skip_special_tokens=True),
                                      "finish_reason": finish}  # fmt: skip
            if body.get("logprobs"):
                k = int(body["logprobs"])
                vals, idx = first_logp.topk(k)
                top = {}
                for v, t in zip(vals.tolist(), idx.tolist(), strict=True):
                    top.setdefault(self.tok.decode([t]), v)
                choice["logprobs"] = {"tokens": [self.tok.decode(ids[:1])], "top_logprobs": [top]}
            choices.append(choice)
        return {"object": "text_completion", "model": body.get("model"), "choices": choices,
                "usage": {"completion_tokens": total}}  # fmt: skip
