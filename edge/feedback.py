"""What a member sees and hears at the reader: green and a short beep, or red and a long one."""

from __future__ import annotations

from gpiozero import LED, Buzzer

from edge.config import Feedback as FeedbackConfig


class Feedback:
    """The reader's LEDs and buzzer; any of them may be absent on a given site.

    >>> feedback = Feedback(LED(5), LED(6), Buzzer(13), FeedbackConfig())
    >>> feedback.granted()   # returns at once: blinking runs in gpiozero's background thread
    """

    def __init__(
        self, green: LED | None, red: LED | None, buzzer: Buzzer | None, config: FeedbackConfig
    ) -> None:
        self.green, self.red, self.buzzer, self.config = green, red, buzzer, config

    def granted(self) -> None:
        if self.green is not None:
            self.green.blink(on_time=self.config.granted_s, off_time=0, n=1, background=True)
        if self.buzzer is not None:
            self.buzzer.beep(on_time=self.config.short_beep_s, off_time=0, n=1, background=True)

    def denied(self) -> None:
        if self.red is not None:
            self.red.blink(on_time=self.config.denied_s, off_time=0, n=1, background=True)
        if self.buzzer is not None:
            self.buzzer.beep(on_time=self.config.long_beep_s, off_time=0, n=1, background=True)

    def close(self) -> None:
        for device in (self.green, self.red, self.buzzer):
            if device is not None:
                device.close()
