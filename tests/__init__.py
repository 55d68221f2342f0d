"""Tailor's test suite."""

# Before numpy is first imported: chalicelib limits BLAS to one thread, as in production
# (threads spinning against 2 cores made tests ~25x slower on a loaded machine).
import chalicelib  # noqa: F401
