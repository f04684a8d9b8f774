import time

BASE_DELAY_S = 0.2


def pause(attempt):
    time.sleep(BASE_DELAY_S * (attempt + 1))
