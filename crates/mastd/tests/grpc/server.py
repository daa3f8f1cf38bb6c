"""A gRPC test backend for the proxyless test: serves /mast.test.Echo/Call with raw bytes,
answering with its own name so the client can count which backend served each call."""

import sys
from concurrent import futures

import grpc


def main():
    name, port = sys.argv[1], int(sys.argv[2])

    def call(request, context):
        return name.encode()

    handler = grpc.method_handlers_generic_handler(
        "mast.test.Echo",
        {"Call": grpc.unary_unary_rpc_method_handler(call)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"serving {name} on {port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
