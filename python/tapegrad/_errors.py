"""Errors from the Python-level API name the function that raised them (SPEC 6)."""
import functools


def _renamed(e, name):
    try:
        return type(e)(f"{name}: {e}")
    except Exception:  # an exception type whose constructor takes other arguments
        return None


def names_errors(name):
    """Decorator: a TypeError/ValueError/IndexError/RuntimeError whose message does not
    mention `name` gets it in front; an AttributeError (a non-tensor where a tensor was
    expected) becomes a TypeError naming `name`."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except AttributeError as e:
                raise TypeError(f"{name}: invalid argument ({e})") from None
            except (TypeError, ValueError, IndexError, RuntimeError) as e:
                if name.lower() in str(e).lower():
                    raise
                renamed = _renamed(e, name)
                if renamed is None:
                    raise
                raise renamed from None

        return wrapper

    return decorate


def name_public_functions(namespace, names):
    """Apply names_errors to each function `names` in a module's namespace dict."""
    for n in names:
        namespace[n] = names_errors(n)(namespace[n])
