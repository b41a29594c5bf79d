"""Citizen- and operator-facing texts of the queue, in Bahasa Indonesia.

Every error the queue answers carries a machine-readable ``error`` code and details
(English field names); the ``message`` is what a kiosk or a counter console shows.
"""

STATUS = {
    "waiting": "menunggu", "called": "dipanggil", "serving": "sedang dilayani",
    "completed": "selesai", "no_show": "tidak hadir", "cancelled": "dibatalkan",
    "transferred": "dialihkan", "gone": "tidak ada",
}
ACTION = {
    "call": "memanggil", "recall": "memanggil ulang", "start": "memulai layanan",
    "complete": "menyelesaikan", "no_show": "menandai tidak hadir", "cancel": "membatalkan",
    "transfer": "mengalihkan", "return": "mengembalikan", "feedback": "mengisi survei untuk",
}
COUNTER_STATE = {"open": "buka", "paused": "jeda", "closed": "tutup"}
CLOSED_BECAUSE = {
    "break": "sedang istirahat", "holiday": "libur hari ini", "closed_day": "tutup hari ini",
    "before_opening": "belum buka", "after_closing": "sudah tutup untuk hari ini",
}


def status(value):
    return STATUS.get(value, value)


def closed(site_name, reason, label, next_open):
    why = CLOSED_BECAUSE[reason] + (f" ({label})" if label else "")
    text = f"{site_name} {why}."
    if next_open:
        text += f" Buka kembali {next_open:%d-%m-%Y} pukul {next_open:%H.%M}."
    return text


def invalid_transition(action, number, current):
    return f"Tidak dapat {ACTION[action]} tiket {number}: statusnya {status(current)}."


APPOINTMENT_CHANNEL = ("Janji temu (appointment) wajib untuk kanal appointment dan hanya "
                       "berlaku untuk kanal itu.")
APPOINTMENT_RPC_ONLY = ("Tiket janji temu diterbitkan oleh layanan booking saat check-in, "
                        "bukan lewat API ini.")
APPOINTMENT_OTHER_DAY = "Jadwal janji temu harus pada hari layanan ini di lokasi ini."
