from services.kernel import passwords


def test_secrets_are_stored_as_slow_salted_hashes():
    stored = passwords.hash_secret("kata-sandi-panjang")
    assert stored.startswith("scrypt$16384$8$1$") and "kata" not in stored
    assert stored != passwords.hash_secret("kata-sandi-panjang"), "salted"
    assert passwords.check_secret("kata-sandi-panjang", stored)
    assert not passwords.check_secret("kata-sandi-salah", stored)
    assert not passwords.check_secret("x", "not-a-hash")


def test_a_hash_stored_before_the_auth_split_still_checks():
    stored = "scrypt$16$8$1$KgujfuNvS80hzimxGZnsGQ$Ze7aT7IPJkkvmzo0bNil2eiW4SB8_aPaH1K09_uirf4"
    assert passwords.check_secret("kata-sandi-panjang", stored)
    assert not passwords.check_secret("kata-sandi-salah", stored)
