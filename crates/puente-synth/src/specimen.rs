//! Small synthetic passport-copy images for demos and tests: a PNG with a data page
//! layout, a photo box, MRZ-like bands and the word SPECIMEN across it, so nobody can take
//! one for a real document.

use crate::error::SynthError;

/// 5×7 glyphs of the letters used.
fn glyph(c: char) -> [u8; 7] {
    match c {
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11],
        _ => [0; 7],
    }
}

/// A PNG passport copy marked SPECIMEN; `seed` varies the colours so copies differ.
pub fn specimen_png(seed: u64) -> Result<Vec<u8>, SynthError> {
    const W: usize = 240;
    const H: usize = 160;
    let h = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let tint = [
        (h % 61) as u8,
        ((h >> 16) % 61) as u8,
        ((h >> 32) % 61) as u8,
    ];
    let mut px = vec![0u8; W * H * 3];
    let put = |x: usize, y: usize, rgb: [u8; 3], px: &mut Vec<u8>| {
        if x < W && y < H {
            let i = (y * W + x) * 3;
            px[i..i + 3].copy_from_slice(&rgb);
        }
    };
    for y in 0..H {
        for x in 0..W {
            // Pale background with a fine guilloche-like wave.
            let wave = (((x as f64) / 7.0).sin() * 6.0 + (y as f64)) as i64 % 9 == 0;
            let base = if wave {
                [200, 215, 230]
            } else {
                [235, 240, 245]
            };
            put(
                x,
                y,
                [
                    base[0] - tint[0] / 3,
                    base[1] - tint[1] / 3,
                    base[2] - tint[2] / 3,
                ],
                &mut px,
            );
        }
    }
    // Photo box.
    for y in 18..98 {
        for x in 14..74 {
            put(x, y, [170, 175, 185], &mut px);
        }
    }
    // Data lines and two MRZ bands.
    for (y0, x1) in [(24, 220), (36, 200), (48, 210), (60, 180), (72, 205)] {
        for y in y0..y0 + 4 {
            for x in 86..x1 {
                put(x, y, [120, 130, 150], &mut px);
            }
        }
    }
    for y0 in [122, 138] {
        for y in y0..y0 + 7 {
            for x in 10..230 {
                if (x / 5) % 2 == 0 {
                    put(x, y, [60, 60, 70], &mut px);
                }
            }
        }
    }
    // SPECIMEN in red, 3× scale, across the middle.
    let scale = 3;
    let text = "SPECIMEN";
    let start_x = (W - text.len() * 6 * scale) / 2;
    let start_y = 86;
    for (i, c) in text.chars().enumerate() {
        let g = glyph(c);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            put(
                                start_x + (i * 6 + col) * scale + dx,
                                start_y + row * scale + dy,
                                [200, 20, 30],
                                &mut px,
                            );
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, W as u32, H as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(SynthError::Image)?;
        writer.write_image_data(&px).map_err(SynthError::Image)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use puente_records::media::sniff_media_type;

    #[test]
    fn specimens_are_small_pngs() {
        let a = specimen_png(1).unwrap();
        let b = specimen_png(2).unwrap();
        assert_eq!(sniff_media_type(&a), Some("image/png"));
        assert!(a.len() < 40_000, "{}", a.len());
        assert!(a != b, "different seeds, different images");
    }
}
