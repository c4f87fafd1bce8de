/**
 * The advisory lock that serializes sealers (the serve job and `ward audit seal`) across
 * processes; signing-key rotation takes it too, so a sealing round never signs with a key
 * that was retired while it ran.
 */
export const sealLockKey = 727_200;
