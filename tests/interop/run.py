"""run.py SYNACK: runs the interop suite with pytest against the synack
binary given. Exits 77 (meson's "skipped") when not root: namespaces, TUN
devices and nftables need it. Anything else missing is a failure."""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def main():
    if os.geteuid() != 0:
        print("interop: needs root for namespaces and TUN devices: skipped")
        return SKIP
    missing = [t for t in ("ip", "nft", "curl", "tcpdump") if not shutil.which(t)]
    if missing:
        print("interop: missing tools: " + ", ".join(missing))
        return 1
    os.environ["SYNACK_BIN"] = os.path.abspath(sys.argv[1])
    sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
    import pytest
    return pytest.main([HERE, "-q", "-p", "no:cacheprovider", "-rfEsxX", "--durations=5"]
                       + sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
