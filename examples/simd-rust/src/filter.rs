//! An edge detector: RGBA picture → grayscale → Gaussian blur (3×3, `rounds` times) → Sobel
//! gradient magnitude. Rows are processed as slices offset by one pixel, which the compiler
//! turns into vector code where the target has vectors (wasm `simd128`, SSE, NEON).

/// The edges of a generated `size`×`size` picture blurred `rounds` times: one byte a pixel,
/// `min(|gx| + |gy|, 255)`.
pub fn run(size: usize, rounds: usize) -> Vec<u8> {
    let rgba = picture(size);
    let mut gray = grayscale(&rgba);
    let mut scratch = vec![0u8; size * size];
    for _ in 0..rounds {
        blur(&gray, &mut scratch, size);
        std::mem::swap(&mut gray, &mut scratch);
    }
    sobel(&gray, size)
}

/// Circles and stripes in colour, with some noise.
fn picture(size: usize) -> Vec<u8> {
    let mut rgba = vec![0u8; size * size * 4];
    let mut noise = 0x2545_f491u32;
    let centre = (size / 2) as i64;
    for (i, pixel) in rgba.chunks_exact_mut(4).enumerate() {
        let (x, y) = ((i % size) as i64, (i / size) as i64);
        let (dx, dy) = (x - centre, y - centre);
        let ring = ((dx * dx + dy * dy) >> 6) as u8;
        let stripe = if (x / 16 + y / 16) % 2 == 0 { 200 } else { 40 };
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        pixel[0] = ring.wrapping_mul(3);
        pixel[1] = stripe;
        pixel[2] = (noise >> 24) as u8 & 0x3f;
        pixel[3] = 255;
    }
    rgba
}

/// ITU-R BT.601 luma in 8-bit fixed point: `(77 r + 150 g + 29 b + 128) / 256`.
fn grayscale(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .map(|p| {
            let y = 77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128;
            (y >> 8) as u8
        })
        .collect()
}

/// `dst[i] = a[i] + 2 b[i] + c[i]` over the row: the 1-2-1 kernel in one direction.
fn weigh_121(a: &[u8], b: &[u8], c: &[u8], dst: &mut [u16]) {
    for (((d, &a), &b), &c) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *d = u16::from(a) + 2 * u16::from(b) + u16::from(c);
    }
}

/// The 3×3 Gaussian `[1 2 1; 2 4 2; 1 2 1] / 16`, rounded; edge pixels repeat outwards.
fn blur(src: &[u8], dst: &mut [u8], size: usize) {
    let row = |y: usize| &src[y * size..(y + 1) * size];
    let mut vertical = vec![0u16; size];
    for y in 0..size {
        let (up, down) = (row(y.saturating_sub(1)), row((y + 1).min(size - 1)));
        weigh_121(up, row(y), down, &mut vertical);
        let out = &mut dst[y * size..(y + 1) * size];
        let (left, middle, right) = (
            &vertical[..size - 2],
            &vertical[1..size - 1],
            &vertical[2..],
        );
        for (((o, &l), &m), &r) in out[1..size - 1].iter_mut().zip(left).zip(middle).zip(right) {
            *o = ((l + 2 * m + r + 8) >> 4) as u8;
        }
        out[0] = ((3 * vertical[0] + vertical[1] + 8) >> 4) as u8;
        out[size - 1] = ((3 * vertical[size - 1] + vertical[size - 2] + 8) >> 4) as u8;
    }
}

/// Sobel gradient magnitude `min(|gx| + |gy|, 255)`; the border stays 0. `gx` is the
/// difference of the columns' vertical 1-2-1 sums two pixels apart, `gy` that of the rows'
/// horizontal sums above and below (each sum at most 1020, so they fit an `i16`).
fn sobel(src: &[u8], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size * size];
    let row = |y: usize| &src[y * size..(y + 1) * size];
    let n = size - 2;
    let mut columns = vec![0u16; size];
    let mut above = vec![0u16; n];
    let mut below = vec![0u16; n];
    for y in 1..size - 1 {
        let (up, mid, down) = (row(y - 1), row(y), row(y + 1));
        weigh_121(up, mid, down, &mut columns);
        weigh_121(&up[..n], &up[1..n + 1], &up[2..], &mut above);
        weigh_121(&down[..n], &down[1..n + 1], &down[2..], &mut below);
        let inner = &mut out[y * size + 1..y * size + 1 + n];
        let sums = columns[..n]
            .iter()
            .zip(&columns[2..])
            .zip(&above)
            .zip(&below);
        for (o, (((&left, &right), &a), &b)) in inner.iter_mut().zip(sums) {
            let gx = right as i16 - left as i16;
            let gy = b as i16 - a as i16;
            *o = (gx.abs() + gy.abs()).min(255) as u8;
        }
    }
    out
}
