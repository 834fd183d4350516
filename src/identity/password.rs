//! argon2id password hashing with the same cost whether or not the user exists.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use super::IdentityError;
use crate::clock::Env;
use crate::i18n::Msg;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 1024;

fn hasher() -> Result<Argon2<'static>, IdentityError> {
    // OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| IdentityError::Internal(format!("argon2 params: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub fn check_policy(password: &SecretString) -> Result<(), IdentityError> {
    let pw = password.expose_secret();
    let chars = pw.chars().count();
    if chars < MIN_LENGTH {
        return Err(IdentityError::Invalid(
            Msg::new("password-too-short").arg("min", MIN_LENGTH),
        ));
    }
    if pw.len() > MAX_LENGTH {
        return Err(IdentityError::Invalid(
            Msg::new("password-too-long").arg("max", MAX_LENGTH),
        ));
    }
    if pw.contains('\0') {
        return Err(IdentityError::Invalid(Msg::new("password-nul")));
    }
    Ok(())
}

pub fn hash(env: &Env, password: &SecretString) -> Result<String, IdentityError> {
    let salt = env.random_bytes::<16>()?;
    let hash = hasher()?
        .hash_password_with_salt(password.expose_secret().as_bytes(), &salt)
        .map_err(|e| IdentityError::Internal(format!("argon2: {e}")))?;
    Ok(hash.to_string())
}

/// True when `password` matches `stored`. With `stored == None` a dummy hash is
/// checked instead, so a missing user costs the same time as a wrong password.
pub fn verify(stored: Option<&str>, dummy: &str, password: &SecretString) -> bool {
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy, false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(argon) = hasher() else {
        return false;
    };
    let ok = argon
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok();
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let env = Env::system();
        let pw = SecretString::from("correct horse battery staple");
        let h = hash(&env, &pw).unwrap();
        assert!(h.starts_with("$argon2id$"));
        let dummy = hash(&env, &SecretString::from("dummy-password-xx")).unwrap();
        assert!(verify(Some(&h), &dummy, &pw));
        assert!(!verify(
            Some(&h),
            &dummy,
            &SecretString::from("wrong password!!")
        ));
        assert!(!verify(
            None,
            &dummy,
            &SecretString::from("dummy-password-xx")
        ));
    }

    #[test]
    fn policy() {
        assert!(check_policy(&SecretString::from("short")).is_err());
        assert!(check_policy(&SecretString::from("ნინოს-პაროლი-გრძელი")).is_ok());
        assert!(check_policy(&SecretString::from("twelve chars\0x")).is_err());
    }
}
