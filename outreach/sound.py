"""Sound the app makes up rather than records."""
import io
import wave


def silent_wav(seconds: float, rate: int = 8000) -> bytes:
    """A mono 8 kHz 16-bit WAV of silence: the shape of a phone recording's media."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(rate * seconds))
    return buffer.getvalue()
