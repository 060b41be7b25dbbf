"""``python -m node.keys rotate|show``: manage the keyring that seals tokens at rest.

``rotate`` adds a new primary key and keeps the old ones, so files sealed before still open;
each node re-seals its file with the new key the next time it starts or gets a token.
"""

from __future__ import annotations

from tokensim_token.errors import KeyringError
from tokensim_token.keyring import load_keyring_file, rotate_keyring_file

from core.cli import base_parser, fail, load_or_exit

PROG = "python -m node.keys"


def main() -> None:
    parser = base_parser(PROG, "Show or rotate the token encryption keyring.")
    parser.add_argument("action", choices=["show", "rotate"])
    args = parser.parse_args()
    topology = load_or_exit(PROG, args.topology)
    if topology.token.key_env:
        fail(PROG, f"the keyring is in ${topology.token.key_env}; rotate it where it is kept")
    path = topology.token.keyring_path
    create = topology.token.key_file is None  # only the default path is ever generated
    try:
        keyring = (
            rotate_keyring_file(path, create=create)
            if args.action == "rotate"
            else load_keyring_file(path, create=create)
        )
    except KeyringError as exc:
        fail(PROG, str(exc))
    print(f"{path}: primary key {keyring.primary}; keys {', '.join(sorted(keyring.keys))}")


if __name__ == "__main__":
    main()
