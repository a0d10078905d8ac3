"""The risk dashboard's entrypoint (a stand-in)."""


def main() -> str:
    return "dashboard"
