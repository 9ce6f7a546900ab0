"""The command supervisord runs for every program: load the environment captured by `up`/`start`, then exec."""
import json
import os
import sys


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    os.chdir(spec["cwd"])
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    main()
