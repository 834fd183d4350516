DROP TABLE session_elevations;
DROP TABLE key_challenges;
DROP TABLE key_enrollment_codes;
DROP TABLE hardware_keys;
