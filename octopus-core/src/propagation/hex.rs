//! Hex ids, checked and read in one pass over their digits.
//!
//! Every inbound trace header carries its ids as hex: 48 digits in a `traceparent`. Checking
//! the digits (`is_lower_hex`) and then reading them (a `fold` per digit) walked them twice
//! and cost about 770 instructions per `traceparent` (callgrind, `core/tracing_unsampled`);
//! one table lookup per digit does both in one pass, for about 4 instructions a digit.
//! `u128::from_str_radix` is slower still (a checked multiplication per digit) and accepts a
//! sign, which no trace format allows. Lower-case ids of 16 and 32 digits (`traceparent`,
//! `b3`) are read sixteen digits at a time in an SSE2 register on x86_64: a `traceparent`'s
//! ids then cost 154 instructions where eight digits at a time in a `u64` cost 337 (callgrind,
//! `core/tracing_unsampled`; `core/extract_default_traceparent` 70.5 → 61.7 ns). Crates that
//! decode hex with SIMD (`faster-hex`, `hex-simd`) accept upper case, which W3C ids must not
//! have, and dispatch on the CPU at run time; SSE2 needs no dispatch on x86_64.

/// Which letters a format allows: W3C and B3 ids are lower-case, Jaeger's either case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    /// `0`–`9`, `a`–`f`.
    Lower,
    /// `0`–`9`, `a`–`f`, `A`–`F`.
    Any,
}

/// In [`DIGITS`]: the byte is not a hex digit.
const NOT_HEX: u8 = 0x80;
/// In [`DIGITS`]: the byte is an upper-case hex letter.
const UPPER: u8 = 0x40;

/// Each byte's value as a hex digit in the low nibble, with [`NOT_HEX`] or [`UPPER`] set
/// where they apply.
static DIGITS: [u8; 256] = digits();

const fn digits() -> [u8; 256] {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = (10 + i as u8) | UPPER;
        i += 1;
    }
    table
}

/// The value of 1 to 16 hex digits of `case`; `None` for anything else.
#[inline]
pub(crate) fn parse_u64(digits: &[u8], case: Case) -> Option<u64> {
    if let (Case::Lower, Ok(digits)) = (case, <&[u8; 16]>::try_from(digits)) {
        return lower_16(digits);
    }
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let (value, seen) = fold(digits);
    accepted(seen, case).then_some(value)
}

/// The value of 1 to 32 hex digits of `case`; `None` for anything else.
#[inline]
pub(crate) fn parse_u128(digits: &[u8], case: Case) -> Option<u128> {
    if digits.is_empty() || digits.len() > 32 {
        return None;
    }
    if let (Case::Lower, Ok(digits)) = (case, <&[u8; 32]>::try_from(digits)) {
        let (high, low) = digits.split_at(16);
        let high = lower_16(high.try_into().ok()?)?;
        let low = lower_16(low.try_into().ok()?)?;
        return Some(u128::from(high) << 64 | u128::from(low));
    }
    // In 64-bit halves: a 128-bit shift per digit costs several instructions.
    let split = digits.len().saturating_sub(16);
    let (high, high_seen) = fold(&digits[..split]);
    let (low, low_seen) = fold(&digits[split..]);
    accepted(high_seen | low_seen, case).then_some(u128::from(high) << 64 | u128::from(low))
}

/// Sixteen lower-case hex digits (a span id, half a trace id: the ids of every `traceparent`
/// and `b3`) in one SSE2 register, x86_64's baseline (figures in the module's documentation).
#[cfg(target_arch = "x86_64")]
#[inline]
fn lower_16(digits: &[u8; 16]) -> Option<u64> {
    use std::arch::x86_64::{
        _mm_add_epi8, _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_cvtsi128_si64,
        _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_packus_epi16, _mm_set1_epi8,
        _mm_set1_epi16, _mm_setzero_si128, _mm_slli_epi16, _mm_srli_epi16,
    };
    // SAFETY: SSE2 is part of x86_64's baseline, so every x86_64 CPU runs these; the load
    // reads the 16 bytes of `digits`, which need no alignment for `_mm_loadu_si128`.
    let (valid, value) = unsafe {
        let chunk = _mm_loadu_si128(digits.as_ptr().cast());
        // Signed comparisons: a byte of 0x80 or more is negative, below both ranges.
        let digit = _mm_and_si128(
            _mm_cmpgt_epi8(chunk, _mm_set1_epi8(b'0' as i8 - 1)),
            _mm_cmplt_epi8(chunk, _mm_set1_epi8(b'9' as i8 + 1)),
        );
        let letter = _mm_and_si128(
            _mm_cmpgt_epi8(chunk, _mm_set1_epi8(b'a' as i8 - 1)),
            _mm_cmplt_epi8(chunk, _mm_set1_epi8(b'f' as i8 + 1)),
        );
        let valid = _mm_movemask_epi8(_mm_or_si128(digit, letter)) == 0xffff;
        // `0`–`9`: the low nibble; `a`–`f`: the low nibble plus 9.
        let nibbles = _mm_add_epi8(
            _mm_and_si128(chunk, _mm_set1_epi8(0x0f)),
            _mm_and_si128(letter, _mm_set1_epi8(9)),
        );
        // Each 16-bit lane holds a digit pair, the first in its low byte: first << 4 | second.
        let pairs = _mm_or_si128(_mm_slli_epi16(nibbles, 4), _mm_srli_epi16(nibbles, 8));
        let bytes = _mm_packus_epi16(
            _mm_and_si128(pairs, _mm_set1_epi16(0xff)),
            _mm_setzero_si128(),
        );
        (valid, _mm_cvtsi128_si64(bytes))
    };
    // The first pair is the lowest byte and the most significant.
    valid.then_some((value as u64).swap_bytes())
}

/// [`lower_16`] without SSE2: eight digits at a time in a `u64`, about 40 instructions where
/// the table costs 70 (callgrind). Each byte is checked with carries that cannot cross into
/// the next byte (every byte is below 0x80 once the first test passes).
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline]
fn lower_16_in_words(digits: &[u8; 16]) -> Option<u64> {
    let (high, low) = digits.split_at(8);
    let high = lower_8(u64::from_be_bytes(high.try_into().ok()?))?;
    let low = lower_8(u64::from_be_bytes(low.try_into().ok()?))?;
    Some(u64::from(high) << 32 | u64::from(low))
}

#[cfg(not(target_arch = "x86_64"))]
use lower_16_in_words as lower_16;

/// Eight lower-case hex digits, the first in the most significant byte of `chunk`.
#[cfg(any(test, not(target_arch = "x86_64")))]
#[inline]
fn lower_8(chunk: u64) -> Option<u32> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x80 * ONES;
    if chunk & HIGH != 0 {
        return None;
    }
    // `chunk + (0x80 - c)` sets a byte's high bit exactly when the byte is at least `c`.
    let at_least = |c: u64| chunk + (0x80 - c) * ONES;
    let digit = at_least(0x30) & !at_least(0x3a);
    let letter = at_least(0x61) & !at_least(0x67);
    if (digit | letter) & HIGH != HIGH {
        return None;
    }
    // `0`–`9`: the low nibble; `a`–`f` (bit 6 set): the low nibble plus 9.
    let nibbles = (chunk & (0x0f * ONES)) + 9 * ((chunk >> 6) & ONES);
    // Two nibbles per byte, then two bytes per 16 bits, then per 32 bits.
    let bytes = (nibbles >> 4 | nibbles) & 0x00ff_00ff_00ff_00ff;
    let pairs = (bytes >> 8 | bytes) & 0x0000_ffff_0000_ffff;
    Some(((pairs >> 16 | pairs) & 0xffff_ffff) as u32)
}

/// The digits' value, and the flags of every digit or-ed together (checked once, at the end,
/// instead of a branch per digit).
#[inline]
fn fold(digits: &[u8]) -> (u64, u8) {
    digits.iter().fold((0, 0), |(value, seen), &byte| {
        let digit = DIGITS[usize::from(byte)];
        (value << 4 | u64::from(digit & 0x0f), seen | digit)
    })
}

#[inline]
fn accepted(seen: u8, case: Case) -> bool {
    let refused = match case {
        Case::Lower => NOT_HEX | UPPER,
        Case::Any => NOT_HEX,
    };
    seen & refused == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the standard parser says, restricted to the digits `case` allows.
    fn expected(value: &str, case: Case) -> Option<u128> {
        let allowed = value.bytes().all(|b| match case {
            Case::Lower => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
            Case::Any => b.is_ascii_hexdigit(),
        });
        (allowed && (1..=32).contains(&value.len()))
            .then(|| u128::from_str_radix(value, 16).ok())
            .flatten()
    }

    #[test]
    fn ids_read_as_the_standard_parser_reads_them_in_the_allowed_case() {
        for value in [
            "0",
            "f",
            "F",
            "00f067aa0ba902b7",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
            "0123456789abcdefABCDEF",
            "000000000000000000000000000000000001",
            "",
            "+1",
            "-1",
            "12g4",
            "12 4",
            "ab\u{e9}",
            "4bf92f3577b34da6a3ce929d0e0e473G",
        ] {
            for case in [Case::Lower, Case::Any] {
                assert_eq!(
                    parse_u128(value.as_bytes(), case),
                    expected(value, case),
                    "{value:?} {case:?}"
                );
                let as_u64 = (value.len() <= 16)
                    .then(|| expected(value, case))
                    .flatten()
                    .map(|v| v as u64);
                assert_eq!(
                    parse_u64(value.as_bytes(), case),
                    as_u64,
                    "{value:?} {case:?}"
                );
            }
        }
    }

    #[test]
    fn sixteen_and_thirty_two_lower_digits_with_any_byte_anywhere_read_as_the_standard_parser() {
        let id = *b"4bf92f3577b34da6a3ce929d0e0e4736";
        for at in 0..id.len() {
            for byte in 0..=u8::MAX {
                let mut digits = id;
                digits[at] = byte;
                let value = String::from_utf8_lossy(&digits).into_owned();
                let expected_128 = std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|value| expected(value, Case::Lower));
                assert_eq!(parse_u128(&digits, Case::Lower), expected_128, "{value:?}");
                if at < 16 {
                    let expected_64 = std::str::from_utf8(&digits[..16])
                        .ok()
                        .and_then(|value| expected(value, Case::Lower))
                        .map(|v| v as u64);
                    assert_eq!(
                        parse_u64(&digits[..16], Case::Lower),
                        expected_64,
                        "{value:?}"
                    );
                }
            }
        }
    }

    /// Both ways of reading sixteen lower-case digits (SSE2 on x86_64, words elsewhere) agree
    /// with the standard parser, whatever byte is put anywhere.
    #[test]
    fn sixteen_digits_read_alike_in_a_register_and_in_words() {
        for id in [
            *b"00f067aa0ba902b7",
            *b"ffffffffffffffff",
            *b"0123456789abcdef",
        ] {
            for at in 0..id.len() {
                for byte in 0..=u8::MAX {
                    let mut digits = id;
                    digits[at] = byte;
                    let expected = std::str::from_utf8(&digits)
                        .ok()
                        .and_then(|value| expected(value, Case::Lower))
                        .map(|v| v as u64);
                    assert_eq!(lower_16(&digits), expected, "{digits:?}");
                    assert_eq!(lower_16_in_words(&digits), expected, "{digits:?}");
                }
            }
        }
    }

    #[test]
    fn every_byte_is_classified_as_the_standard_library_does() {
        for byte in 0..=u8::MAX {
            let digits = [byte];
            let lower = matches!(byte, b'0'..=b'9' | b'a'..=b'f');
            assert_eq!(parse_u64(&digits, Case::Lower).is_some(), lower, "{byte}");
            assert_eq!(
                parse_u64(&digits, Case::Any).is_some(),
                byte.is_ascii_hexdigit(),
                "{byte}"
            );
        }
    }
}
