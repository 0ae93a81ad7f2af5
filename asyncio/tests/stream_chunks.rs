//! Fuzzing the stream parsers (issue 5, item 5): `readline` and `readuntil` over arbitrary
//! chunkings of the same bytes give the same pieces, those of splitting the bytes directly.
//! Each case writes its chunks through a Unix socket pair, yielding between chunks so the reader
//! sees them one at a time (or merged, when it falls behind: either way, the same pieces).

#![cfg(unix)]

use asyncio::net::UnixStream;
use asyncio::{run, spawn, yield_now, StreamError, StreamReader, StreamWriter};
use proptest::collection::vec;
use proptest::prelude::*;

/// `text` cut after every occurrence of `sep`, the rest (if any) last: what the reader must give.
fn pieces(text: &[u8], sep: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= text.len() {
        if &text[i..i + sep.len()] == sep {
            out.push(text[start..i + sep.len()].to_vec());
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    if start < text.len() {
        out.push(text[start..].to_vec());
    }
    out
}

/// Sends `text` cut at `cuts`, then reads it back with `readuntil(sep)` until the end.
fn read_back(text: Vec<u8>, cuts: Vec<usize>, sep: &'static [u8]) -> Vec<Vec<u8>> {
    run(async move {
        let (a, b) = UnixStream::pair().unwrap();
        let mut reader = StreamReader::new(a);
        let mut writer = StreamWriter::new(b);
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (text.len() + 1)).collect();
        points.push(text.len());
        points.sort_unstable();
        let sender = spawn(async move {
            let mut from = 0;
            for to in points {
                writer.write_all(&text[from..to]).await.unwrap();
                from = to;
                yield_now().await;
                yield_now().await;
            }
            writer.close();
            writer.wait_closed().await.unwrap();
        });
        let mut got = Vec::new();
        loop {
            let piece = if sep == b"\n" {
                reader.readline().await.unwrap()
            } else {
                match reader.readuntil(sep).await {
                    Ok(piece) => piece,
                    Err(StreamError::IncompleteRead { partial, .. }) => partial,
                    Err(e) => panic!("{e}"),
                }
            };
            if piece.is_empty() {
                break;
            }
            let last = !piece.ends_with(sep);
            got.push(piece);
            if last {
                break; // the end of the stream came first
            }
        }
        sender.await.unwrap();
        got
    })
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    vec(prop::sample::select(vec![b'a', b'b', b'\r', b'\n']), 0..200)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn readline_gives_the_same_lines_whatever_the_chunking(
        text in text(),
        cuts in vec(0usize..256, 0..12),
    ) {
        let expected = pieces(&text, b"\n");
        prop_assert_eq!(read_back(text, cuts, b"\n"), expected);
    }

    #[test]
    fn readuntil_a_two_byte_separator_split_across_chunks_gives_the_same_pieces(
        text in text(),
        cuts in vec(0usize..256, 0..12),
    ) {
        let expected = pieces(&text, b"\r\n");
        prop_assert_eq!(read_back(text, cuts, b"\r\n"), expected);
    }
}
