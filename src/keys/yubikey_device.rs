//! `PivDevice` on a real YubiKey through PC/SC (the `yubikey` crate). Built only
//! with the `piv-client` feature.

use der::Encode;
use secrecy::{ExposeSecret, SecretString};
use yubikey::piv::{self, AlgorithmId, SlotId};
use yubikey::{MgmKey, YubiKey};

use super::attestation::Slot;
use super::client::{ClientError, PivDevice};
use super::piv_ext::{PinPolicy, TouchPolicy};

pub struct YubiKeyDevice {
    yk: YubiKey,
    mgm: Option<MgmKey>,
}

fn dev_err(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Device(format!("{what}: {e}"))
}

impl YubiKeyDevice {
    /// The first YubiKey found. `management_key_hex`: the PIV management key (3DES,
    /// 48 hex digits); `None` uses the factory default (only for generating keys).
    pub fn open(management_key_hex: Option<&SecretString>) -> Result<YubiKeyDevice, ClientError> {
        let yk = YubiKey::open().map_err(|e| dev_err("no YubiKey found (is pcscd running?)", e))?;
        let mgm = match management_key_hex {
            Some(hex_key) => {
                let bytes = hex::decode(hex_key.expose_secret().trim())
                    .map_err(|e| dev_err("management key", e))?;
                Some(MgmKey::from_bytes(bytes).map_err(|e| dev_err("management key", e))?)
            }
            None => None,
        };
        Ok(YubiKeyDevice { yk, mgm })
    }

    pub fn serial(&self) -> u32 {
        self.yk.serial().into()
    }
}

fn slot_id(slot: Slot) -> Result<SlotId, ClientError> {
    SlotId::try_from(slot.id()).map_err(|e| dev_err("slot", e))
}

impl PivDevice for YubiKeyDevice {
    fn generate(
        &mut self,
        slot: Slot,
        pin: PinPolicy,
        touch: TouchPolicy,
    ) -> Result<Vec<u8>, ClientError> {
        let mgm = self.mgm.clone().unwrap_or_default();
        self.yk
            .authenticate(mgm)
            .map_err(|e| dev_err("management key refused", e))?;
        let pin = match pin {
            PinPolicy::Never => yubikey::PinPolicy::Never,
            PinPolicy::Once => yubikey::PinPolicy::Once,
            PinPolicy::Always => yubikey::PinPolicy::Always,
        };
        let touch = match touch {
            TouchPolicy::Never => yubikey::TouchPolicy::Never,
            TouchPolicy::Cached => yubikey::TouchPolicy::Cached,
            TouchPolicy::Always => yubikey::TouchPolicy::Always,
        };
        let spki = piv::generate(
            &mut self.yk,
            slot_id(slot)?,
            AlgorithmId::EccP256,
            pin,
            touch,
        )
        .map_err(|e| dev_err("generating the key", e))?;
        spki.to_der().map_err(|e| dev_err("public key", e))
    }

    fn attest(&mut self, slot: Slot) -> Result<Vec<u8>, ClientError> {
        let der = piv::attest(&mut self.yk, slot_id(slot)?)
            .map_err(|e| dev_err("attestation (firmware 4.3 or later)", e))?;
        Ok(der.to_vec())
    }

    fn f9_certificate(&mut self) -> Result<Vec<u8>, ClientError> {
        let cert = yubikey::Certificate::read(&mut self.yk, SlotId::Attestation)
            .map_err(|e| dev_err("reading the f9 certificate", e))?;
        cert.cert.to_der().map_err(|e| dev_err("f9 certificate", e))
    }

    fn sign(
        &mut self,
        slot: Slot,
        pin: &SecretString,
        message: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        self.yk
            .verify_pin(pin.expose_secret().as_bytes())
            .map_err(|e| dev_err("PIN", e))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, message);
        eprintln!("Touch your YubiKey if it blinks.");
        let sig = piv::sign_data(
            &mut self.yk,
            digest.as_ref(),
            AlgorithmId::EccP256,
            slot_id(slot)?,
        )
        .map_err(|e| dev_err("signing", e))?;
        Ok(sig.to_vec())
    }
}
