//! The framing on scripted byte streams: every robustness case the Tusk CLI meets, and
//! property-based round trips of frames.

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use cov_transport::FrameError;
use cov_transport::frame::{DEFAULT_MAX_FRAME_LEN, FrameCodec};
use futures_util::StreamExt;
use proptest::prelude::*;
use tokio_test::io::Builder;
use tokio_util::codec::{Decoder, Encoder, FramedRead};

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

async fn read_all(
    framed: &mut FramedRead<tokio_test::io::Mock, FrameCodec>,
) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut frames = Vec::new();
    while let Some(next) = framed.next().await {
        match next {
            Ok(payload) => frames.push(payload.to_vec()),
            Err(error) => return (frames, Some(error)),
        }
    }
    (frames, None)
}

#[tokio::test]
async fn read_frames_in_one_chunk() {
    let mut bytes = frame(b"hello");
    bytes.extend(frame(b""));
    bytes.extend(frame(b"world!"));
    let mut framed = FramedRead::new(Builder::new().read(&bytes).build(), FrameCodec::new());
    let (frames, error) = read_all(&mut framed).await;
    assert_eq!(frames, [b"hello".to_vec(), Vec::new(), b"world!".to_vec()]);
    assert!(error.is_none(), "{error:?}");
}

#[tokio::test]
async fn read_frame_byte_by_byte() {
    let bytes = [frame(b"abc"), frame(b"defgh")].concat();
    let mut script = Builder::new();
    for byte in &bytes {
        script.read(std::slice::from_ref(byte));
    }
    let mut framed = FramedRead::new(script.build(), FrameCodec::new());
    let (frames, error) = read_all(&mut framed).await;
    assert_eq!(frames, [b"abc".to_vec(), b"defgh".to_vec()]);
    assert!(error.is_none(), "{error:?}");
}

#[tokio::test]
async fn read_max_frame_len() {
    // Exactly the maximum is delivered; one byte more is skipped, and the stream goes on.
    let max = 64;
    let at_max = vec![7u8; max];
    let over_max = vec![9u8; max + 1];
    let bytes = [frame(&at_max), frame(&over_max), frame(b"after")].concat();
    let mut framed = FramedRead::new(
        Builder::new().read(&bytes).build(),
        FrameCodec::with_max_frame_len(max),
    );
    let (frames, error) = read_all(&mut framed).await;
    assert_eq!(frames, [at_max, b"after".to_vec()]);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(framed.decoder().skipped_oversized(), 1);
}

#[tokio::test]
async fn read_default_max_frame_len_is_ten_mib() {
    assert_eq!(DEFAULT_MAX_FRAME_LEN, 10 * 1024 * 1024);
    assert_eq!(FrameCodec::new().max_frame_len(), 10 * 1024 * 1024);
    // An 10 MiB + 1 announcement is skipped (its bytes dropped), the next frame delivered.
    let mut header = BytesMut::new();
    header.put_u32(10 * 1024 * 1024 + 1);
    let chunk = vec![0u8; 1024 * 1024];
    let mut script = Builder::new();
    script.read(&header);
    for _ in 0..10 {
        script.read(&chunk);
    }
    script.read(&[0u8]).read(&frame(b"next"));
    let mut framed = FramedRead::new(script.build(), FrameCodec::new());
    let (frames, error) = read_all(&mut framed).await;
    assert_eq!(frames, [b"next".to_vec()]);
    assert!(error.is_none(), "{error:?}");
    assert!(
        framed.read_buffer().capacity() < 2 * 1024 * 1024,
        "the skipped frame was buffered: capacity {}",
        framed.read_buffer().capacity()
    );
}

#[tokio::test]
async fn read_4gib_length_prefix_bounded_memory() {
    // The largest length a header can announce, followed by 32 MiB of bytes, then the
    // peer closes: the bytes are dropped as they arrive and the close is reported.
    let chunk = vec![0xAAu8; 256 * 1024];
    let mut script = Builder::new();
    script.read(&[0xFF, 0xFF, 0xFF, 0xFF]);
    for _ in 0..128 {
        script.read(&chunk);
    }
    let mut framed = FramedRead::new(script.build(), FrameCodec::new());
    let (frames, error) = read_all(&mut framed).await;
    assert!(frames.is_empty());
    match error {
        Some(FrameError::ClosedMidFrame {
            header_bytes: 4,
            expected_len: Some(expected),
            received_len,
        }) => {
            assert_eq!(expected, u64::from(u32::MAX));
            assert_eq!(received_len, 128 * 256 * 1024);
        }
        other => panic!("expected ClosedMidFrame, got {other:?}"),
    }
    assert!(
        framed.read_buffer().capacity() <= 1024 * 1024,
        "memory grew with the announced length: capacity {}",
        framed.read_buffer().capacity()
    );
    // After the error the stream is over.
    assert!(framed.next().await.is_none());
}

#[tokio::test]
async fn peer_closes_mid_frame() {
    let bytes = frame(b"complete");
    let partial = &frame(b"0123456789")[..4 + 3];
    let mut framed = FramedRead::new(
        Builder::new().read(&bytes).read(partial).build(),
        FrameCodec::new(),
    );
    let (frames, error) = read_all(&mut framed).await;
    assert_eq!(frames, [b"complete".to_vec()]);
    let error = error.expect("a close mid-frame is an error");
    assert!(
        matches!(
            error,
            FrameError::ClosedMidFrame {
                expected_len: Some(10),
                received_len: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the peer closed the connection in the middle of a frame (3 of 10 payload bytes received)"
    );
}

#[tokio::test]
async fn peer_closes_mid_header() {
    let mut framed = FramedRead::new(Builder::new().read(&[0, 0]).build(), FrameCodec::new());
    let (frames, error) = read_all(&mut framed).await;
    assert!(frames.is_empty());
    let error = error.expect("a close mid-header is an error");
    assert!(
        matches!(
            error,
            FrameError::ClosedMidFrame {
                header_bytes: 2,
                expected_len: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("2 of 4 length bytes"), "{error}");
}

#[tokio::test]
async fn peer_closes_at_frame_boundary_is_clean_end() {
    let mut framed = FramedRead::new(Builder::new().read(&frame(b"x")).build(), FrameCodec::new());
    let (frames, error) = read_all(&mut framed).await;
    assert_eq!(frames, [b"x".to_vec()]);
    assert!(error.is_none(), "{error:?}");
}

#[tokio::test]
async fn garbage_bytes_are_an_oversized_frame_then_a_close() {
    // An HTTP request line read as a header announces 0x47455420 bytes: skipped, then the
    // close in the middle of it is reported; nothing is buffered.
    let garbage = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n";
    let mut framed = FramedRead::new(Builder::new().read(garbage).build(), FrameCodec::new());
    let (frames, error) = read_all(&mut framed).await;
    assert!(frames.is_empty());
    match error {
        Some(FrameError::ClosedMidFrame {
            expected_len: Some(expected),
            received_len,
            ..
        }) => {
            assert_eq!(expected, u64::from(u32::from_be_bytes(*b"GET ")));
            assert_eq!(received_len, (garbage.len() - 4) as u64);
        }
        other => panic!("expected ClosedMidFrame, got {other:?}"),
    }
    assert_eq!(framed.decoder().skipped_oversized(), 1);
}

#[tokio::test]
async fn read_error_is_reported() {
    let mut framed = FramedRead::new(
        Builder::new()
            .read(&frame(b"ok"))
            .read_error(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
            .build(),
        FrameCodec::new(),
    );
    let (frames, error) = read_all(&mut framed).await;
    assert_eq!(frames, [b"ok".to_vec()]);
    match error {
        Some(FrameError::Io(error)) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn write_frame_layout() {
    let mut codec = FrameCodec::new();
    let mut out = BytesMut::new();
    codec
        .encode(Bytes::from_static(b"Hello world"), &mut out)
        .unwrap();
    assert_eq!(&out[..], b"\x00\x00\x00\x0BHello world");
}

#[test]
fn write_max_frame_len() {
    let mut codec = FrameCodec::with_max_frame_len(16);
    let mut out = BytesMut::new();
    codec.encode(Bytes::from(vec![1u8; 16]), &mut out).unwrap();
    assert_eq!(out.len(), 4 + 16);
    let error = codec
        .encode(Bytes::from(vec![1u8; 17]), &mut out)
        .unwrap_err();
    assert!(
        matches!(error, FrameError::TooLarge { len: 17, max: 16 }),
        "{error:?}"
    );
    assert!(error.to_string().contains("drops larger frames"), "{error}");
    // Nothing of the refused frame was written.
    assert_eq!(out.len(), 4 + 16);
}

#[test]
fn max_frame_len_is_capped_at_u32() {
    assert_eq!(
        FrameCodec::with_max_frame_len(usize::MAX).max_frame_len(),
        u32::MAX as usize
    );
}

/// Feeds `bytes` to `codec` in chunks of the given sizes (cycled), then ends the stream.
fn decode_in_chunks(
    codec: &mut FrameCodec,
    bytes: &[u8],
    chunk_sizes: &[usize],
) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut buffer = BytesMut::new();
    let mut frames = Vec::new();
    let mut offset = 0;
    for size in chunk_sizes.iter().cycle() {
        if offset >= bytes.len() {
            break;
        }
        let end = (offset + size).min(bytes.len());
        buffer.extend_from_slice(&bytes[offset..end]);
        offset = end;
        loop {
            match codec.decode(&mut buffer) {
                Ok(Some(frame)) => frames.push(frame.to_vec()),
                Ok(None) => break,
                Err(error) => return (frames, Some(error)),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buffer) {
            Ok(Some(frame)) => frames.push(frame.to_vec()),
            Ok(None) => return (frames, None),
            Err(error) => return (frames, Some(error)),
        }
    }
}

proptest! {
    #[test]
    fn frames_round_trip_in_any_chunking(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..12),
        chunk_sizes in proptest::collection::vec(1usize..97, 1..8),
        max in 200usize..700,
    ) {
        // Payloads over `max` are refused by the encoder; on the wire (written by hand)
        // they are skipped by the decoder; everything else arrives intact and in order.
        let mut encoder = FrameCodec::with_max_frame_len(max);
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for payload in &payloads {
            let encoded = encoder.encode(Bytes::from(payload.clone()), &mut wire);
            if payload.len() > max {
                let refused_with_too_large =
                    matches!(encoded, Err(FrameError::TooLarge { .. }));
                prop_assert!(refused_with_too_large);
                wire.extend_from_slice(&frame(payload));
            } else {
                prop_assert!(encoded.is_ok());
                expected.push(payload.clone());
            }
        }
        let mut decoder = FrameCodec::with_max_frame_len(max);
        let (frames, error) = decode_in_chunks(&mut decoder, &wire, &chunk_sizes);
        prop_assert!(error.is_none(), "{:?}", error);
        prop_assert_eq!(frames, expected);
        let n_oversized = payloads.iter().filter(|payload| payload.len() > max).count();
        prop_assert_eq!(decoder.skipped_oversized(), n_oversized as u64);
    }

    #[test]
    fn truncated_stream_is_closed_mid_frame(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6),
        cut_from_end in 1usize..50,
        chunk_sizes in proptest::collection::vec(1usize..64, 1..5),
    ) {
        // Cutting a valid stream anywhere but at a frame boundary is reported, never
        // silently accepted, and every complete frame before the cut still arrives.
        let wire: Vec<u8> = payloads.iter().flat_map(|payload| frame(payload)).collect();
        let cut = wire.len().saturating_sub(cut_from_end);
        let mut boundaries = vec![0];
        for payload in &payloads {
            boundaries.push(boundaries.last().unwrap() + 4 + payload.len());
        }
        let complete_before_cut = boundaries.iter().filter(|boundary| **boundary <= cut).count() - 1;
        let mut decoder = FrameCodec::new();
        let (frames, error) = decode_in_chunks(&mut decoder, &wire[..cut], &chunk_sizes);
        prop_assert_eq!(&frames[..], &payloads[..complete_before_cut]);
        if boundaries.contains(&cut) {
            prop_assert!(error.is_none());
        } else {
            let closed_mid_frame = matches!(error, Some(FrameError::ClosedMidFrame { .. }));
            prop_assert!(closed_mid_frame, "{:?}", error);
        }
    }
}
