"""Errors from the Python-level API name the function that raised them (SPEC 6)."""
import functools


_DOCUMENTED = (TypeError, ValueError, IndexError, RuntimeError)


def _renamed(e, name):
    try:
        return type(e)(f"{name}: {e}")
    except Exception:  # a type whose constructor takes other arguments (NumPy's UFuncTypeError):
        base = next(b for b in _DOCUMENTED if isinstance(e, b))  # its documented base
        return base(f"{name}: {e}")


def names_errors(name):
    """Decorator: a TypeError/ValueError/IndexError/RuntimeError whose message does not
    mention `name` gets it in front; an AttributeError (a non-tensor where a tensor was
    expected) becomes a TypeError naming `name`. `name` may instead be a function of the
    call's arguments that returns it (a method naming the class of its object)."""

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except AttributeError as e:
                called = name(*args, **kwargs) if callable(name) else name
                raise TypeError(f"{called}: invalid argument ({e})") from None
            except _DOCUMENTED as e:
                called = name(*args, **kwargs) if callable(name) else name
                if called.lower() in str(e).lower():
                    raise
                raise _renamed(e, called) from None

        return wrapper

    return decorate


def check_number(value, what):
    """TypeError saying `what` must be a number unless `value` is a real number or a
    one-element tensor/array of one, before code compares it (which would fail with an
    unrelated message)."""
    import numbers

    if isinstance(value, numbers.Real):
        return
    if getattr(value, "size", None) == 1 and not isinstance(value, (str, bytes)):
        try:
            float(value)
            return
        except (TypeError, ValueError):
            pass
    raise TypeError(f"{what} must be a number, got {type(value).__name__}")


def name_public_functions(namespace, names):
    """Apply names_errors to each function `names` in a module's namespace dict."""
    for n in names:
        namespace[n] = names_errors(n)(namespace[n])
