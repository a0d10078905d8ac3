"""The price server's entrypoint (a stand-in: the sandbox builds and runs nothing)."""


def main() -> str:
    return "serving prices"
