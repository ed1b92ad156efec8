//! # lsm-vec C ABI (`liblsmvec.a` / `liblsmvec.so`)
//!
//! The C interface of lsm-vec, declared in `include/lsm_vec.h`; the specification's C++ API
//! (`include/lsm_vec_db.h`, namespace `lsm_vec`) is a header-only layer over it.
//!
//! ABI rules (also stated at the top of the header):
//! * Every exported function runs behind a panic boundary ([`status::guard`]): a Rust panic
//!   becomes `LSM_VEC_PANIC`, never an unwind into C.
//! * Fallible functions return an `lsm_vec_status_t` (`LSM_VEC_OK` = 0). The detail of the last
//!   failure is a thread-local string, `lsm_vec_last_error_message()`, valid until the next
//!   `lsm_vec_*` call on the same thread; a successful call sets it to `""`.
//! * No pointer argument may be NULL unless the documentation says so (`LSM_VEC_INVALID_ARGUMENT`
//!   otherwise). A data pointer paired with a length of 0 may be NULL. Strings are UTF-8 and
//!   NUL-terminated (`LSM_VEC_INVALID_ARGUMENT` otherwise) and are only borrowed for the call.
//! * Output buffers are owned by the caller and sized by a capacity argument; nothing the library
//!   returns needs freeing except the database handle (`lsm_vec_free`).
//! * A handle (`lsm_vec_db_t *`) may be used from any number of threads at once, for every
//!   function except `lsm_vec_free`, which must be the last call on it.
//! * Out-parameters are written only on success, except `lsm_vec_open`'s handle (set to NULL on
//!   failure) and `lsm_vec_get`'s length (set to the needed length when the buffer is too small).
//!
//! The crate is also an `rlib`, so Rust tests can call the exported functions directly.

pub mod api;
pub mod status;
pub mod types;

pub use api::*;
pub use status::*;
pub use types::*;
