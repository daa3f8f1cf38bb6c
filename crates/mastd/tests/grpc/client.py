"""The proxyless gRPC client: resolves xds:///TARGET through mastd (GRPC_XDS_BOOTSTRAP) and
prints how many of N calls each backend answered, as JSON on one line."""

import json
import sys
import time

import grpc


def main():
    target, calls = sys.argv[1], int(sys.argv[2])
    channel = grpc.insecure_channel(f"xds:///{target}")
    grpc.channel_ready_future(channel).result(timeout=30)
    stub = channel.unary_unary("/mast.test.Echo/Call")
    counts = {}
    deadline = time.time() + 60
    for _ in range(calls):
        while True:
            try:
                who = stub(b"hello", timeout=10).decode()
                break
            except grpc.RpcError as e:
                if time.time() > deadline:
                    raise
                print(f"retrying after {e.code()}: {e.details()}", file=sys.stderr, flush=True)
                time.sleep(0.2)
        counts[who] = counts.get(who, 0) + 1
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
