//! Image width and height from the first bytes of a base64 PNG, JPEG, GIF or
//! WebP, without decoding the image (or even the whole base64 string).

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Base64 characters decoded at most: PNG, GIF and WebP keep their size in
/// the first 30 bytes; JPEG keeps it in the frame header, after any EXIF or
/// ICC segments, which usually fit in the first 48 KB.
const PREFIX_CHARS: usize = 64 * 1024;

/// Standard alphabet, padding optional: a prefix cut at a multiple of four
/// characters has none, a whole short string may have it.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// `(width, height)` in pixels, or `None` for an unknown format, a header
/// beyond the decoded prefix, or data that is not valid base64.
pub(crate) fn dimensions_from_base64(data: &str) -> Option<(u32, u32)> {
    let data = data.trim_start();
    let prefix = if data.len() > PREFIX_CHARS {
        data.get(..PREFIX_CHARS)?
    } else {
        data
    };
    let bytes = LENIENT.decode(prefix).ok()?;
    dimensions(&bytes).filter(|&(w, h)| w > 0 && h > 0)
}

/// `(width, height)` from the start of an image file.
pub(crate) fn dimensions(b: &[u8]) -> Option<(u32, u32)> {
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        // The IHDR chunk always comes first.
        if b.get(12..16)? != b"IHDR" {
            return None;
        }
        return Some((be32(b, 16)?, be32(b, 20)?));
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some((u32::from(le16(b, 6)?), u32::from(le16(b, 8)?)));
    }
    if b.starts_with(b"RIFF") && b.get(8..12)? == b"WEBP" {
        return webp(b);
    }
    if b.starts_with(&[0xFF, 0xD8]) {
        return jpeg(b);
    }
    None
}

fn webp(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        // Lossy: frame tag (3 bytes), start code 9d 01 2a, then 14-bit sizes.
        b"VP8 " => {
            if b.get(23..26)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            let w = le16(b, 26)? & 0x3FFF;
            let h = le16(b, 28)? & 0x3FFF;
            Some((u32::from(w), u32::from(h)))
        }
        // Lossless: signature 0x2f, then width-1 and height-1 in 14 bits each.
        b"VP8L" => {
            if *b.get(20)? != 0x2F {
                return None;
            }
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        // Extended: canvas width-1 and height-1 as 24-bit little endian.
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        _ => None,
    }
}

/// Walks the JPEG segments up to the first start-of-frame marker.
fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if *b.get(i)? != 0xFF {
            return None;
        }
        while *b.get(i)? == 0xFF {
            i += 1;
        }
        let marker = *b.get(i)?;
        i += 1;
        match marker {
            // Markers without a length field.
            0x01 | 0xD0..=0xD7 => continue,
            // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let h = be16(b, i + 3)?;
                let w = be16(b, i + 5)?;
                return Some((u32::from(w), u32::from(h)));
            }
            // Start of scan or end of image before any frame header.
            0xDA | 0xD9 => return None,
            _ => i += usize::from(be16(b, i)?),
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn png_gif_webp_jpeg_headers() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0]);
        assert_eq!(dimensions_from_base64(&b64(&png)), Some((640, 480)));

        let gif = b"GIF89a\x20\x03\x58\x02\0\0";
        assert_eq!(dimensions_from_base64(&b64(gif)), Some((800, 600)));

        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        vp8x.extend_from_slice(&[0x7F, 0x07, 0x00, 0x37, 0x04, 0x00]); // 1920 x 1080
        assert_eq!(dimensions_from_base64(&b64(&vp8x)), Some((1920, 1080)));

        let mut vp8l = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let bits: u32 = 99 | (49 << 14); // 100 x 50
        vp8l.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(dimensions_from_base64(&b64(&vp8l)), Some((100, 50)));

        // SOI, an APP0 segment (length 16), then SOF0 with height 300, width 400.
        let mut jpg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        jpg.extend_from_slice(&[0; 14]);
        jpg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0x2C, 0x01, 0x90, 3]);
        assert_eq!(dimensions_from_base64(&b64(&jpg)), Some((400, 300)));
    }

    #[test]
    fn unknown_or_broken_data_gives_none() {
        assert_eq!(dimensions_from_base64("not base64!"), None);
        assert_eq!(dimensions_from_base64(&b64(b"hello world")), None);
        assert_eq!(dimensions_from_base64(&b64(b"\x89PNG\r\n\x1a\n")), None);
        assert_eq!(
            dimensions_from_base64(&b64(&[0xFF, 0xD8, 0xFF, 0xDA])),
            None
        );
    }
}
