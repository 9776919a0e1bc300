"""The submission service (`deepgrade serve`): students submit and read feedback in seconds.

A layer above the engine and the gradebook; nothing below imports it.

- ``settings``: the ``[service]`` section of deepgrade.toml;
- ``accounts``: sign-in codes (scrypt hashes only), rotation, revocation;
- ``access``: the one place that decides whether an actor may do something to something;
- ``store``: immutable uploads, the grading queue and its exactly-once commit;
- ``dispatch``: the thread that feeds the queue to a grading executor (never grades itself);
- ``app``: the Starlette application (pages, forms, JSON for `deepgrade submit`);
- ``client``: `deepgrade submit` for students in a terminal;
- ``cli``: the serve, submit, codes and backup commands.
"""
