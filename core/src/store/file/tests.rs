//! The file store on its own: replay, torn tails, CRC errors, compaction, a full disk, the
//! lock, and the format version.

use std::io::Write;
use std::time::Instant;

use bytes::Bytes;

use super::*;
use crate::codec::{Publish, PublishProperties, QoS};
use crate::session::{Config, Event, PublishRequest, Session};

fn message(seq: u64, qos: QoS, state: OutgoingState, payload: &[u8]) -> StoredMessage {
    let packet_id = (state != OutgoingState::Queued).then(|| PacketId::new(seq as u16).unwrap());
    StoredMessage {
        seq,
        token: seq + 100,
        publish: Publish {
            dup: false,
            qos,
            retain: false,
            topic: format!("t/{seq}"),
            packet_id,
            properties: PublishProperties { content_type: Some("text/plain".into()), ..Default::default() },
            payload: Bytes::copy_from_slice(payload),
        },
        state,
    }
}

fn log_path(dir: &Path) -> PathBuf {
    dir.join(LOG)
}

#[test]
fn records_replay_after_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
        s.set_meta(&SessionMeta {
            client_id: "c1".into(),
            server: "h:1".into(),
            session_expiry: 60,
            protocol: 5,
        })
        .unwrap();
        s.put_outgoing(&message(1, QoS::AtLeastOnce, OutgoingState::Queued, b"a")).unwrap();
        s.put_outgoing(&message(2, QoS::ExactlyOnce, OutgoingState::AwaitingAck, b"b")).unwrap();
        s.put_outgoing(&message(3, QoS::ExactlyOnce, OutgoingState::AwaitingAck, b"c")).unwrap();
        s.put_outgoing(&message(3, QoS::ExactlyOnce, OutgoingState::AwaitingComp, b"c")).unwrap();
        s.remove_outgoing(1).unwrap();
        s.put_incoming_qos2(PacketId::new(7).unwrap()).unwrap();
        s.put_incoming_qos2(PacketId::new(8).unwrap()).unwrap();
        s.remove_incoming_qos2(PacketId::new(7).unwrap()).unwrap();
    }
    let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
    let loaded = s.load().unwrap();
    assert_eq!(
        loaded.messages,
        vec![
            message(2, QoS::ExactlyOnce, OutgoingState::AwaitingAck, b"b"),
            message(3, QoS::ExactlyOnce, OutgoingState::AwaitingComp, b"c"),
        ]
    );
    assert_eq!(loaded.incoming_qos2, vec![PacketId::new(8).unwrap()]);
    assert_eq!(s.meta().unwrap().client_id, "c1");
    assert_eq!(s.next_seq(), 4, "sequence numbers continue above every stored one");
    assert_eq!(
        s.restore_report(),
        RestoreReport { messages: 2, incoming_qos2: 1, corrupt: 0, truncated_bytes: 0 }
    );
}

#[test]
fn a_torn_tail_is_cut_off_and_the_rest_restored() {
    let dir = tempfile::tempdir().unwrap();
    let full_len;
    {
        let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
        s.put_outgoing(&message(1, QoS::AtLeastOnce, OutgoingState::Queued, b"one")).unwrap();
        full_len = s.log_len();
        s.put_outgoing(&message(2, QoS::AtLeastOnce, OutgoingState::Queued, b"two")).unwrap();
    }
    // The process died half-way through the second record's write.
    let f = OpenOptions::new().write(true).open(log_path(dir.path())).unwrap();
    f.set_len(full_len + 11).unwrap();
    drop(f);
    let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
    assert_eq!(s.restore_report().truncated_bytes, 11);
    assert_eq!(s.restore_report().corrupt, 0);
    assert_eq!(s.load().unwrap().messages, vec![message(1, QoS::AtLeastOnce, OutgoingState::Queued, b"one")]);
    // Appending after the cut gives a clean log.
    s.put_outgoing(&message(3, QoS::AtLeastOnce, OutgoingState::Queued, b"three")).unwrap();
    drop(s);
    let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
    assert_eq!(s.restore_report().truncated_bytes, 0);
    assert_eq!(s.load().unwrap().messages.len(), 2);
}

#[test]
fn zeros_after_the_last_record_are_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
        s.put_outgoing(&message(1, QoS::AtLeastOnce, OutgoingState::Queued, b"one")).unwrap();
    }
    let mut f = OpenOptions::new().append(true).open(log_path(dir.path())).unwrap();
    f.write_all(&[0u8; 100]).unwrap();
    drop(f);
    let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
    assert_eq!(s.restore_report().truncated_bytes, 100);
    assert_eq!(s.load().unwrap().messages.len(), 1);
}

#[test]
fn a_record_with_a_bad_crc_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (start, end);
    {
        let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
        s.put_outgoing(&message(1, QoS::AtLeastOnce, OutgoingState::Queued, b"one")).unwrap();
        start = s.log_len();
        s.put_outgoing(&message(2, QoS::AtLeastOnce, OutgoingState::Queued, b"two")).unwrap();
        end = s.log_len();
        s.put_outgoing(&message(3, QoS::AtLeastOnce, OutgoingState::Queued, b"three")).unwrap();
    }
    let path = log_path(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip a payload byte of the middle record.
    bytes[(end - 1) as usize] ^= 0xFF;
    assert!(start < end);
    std::fs::write(&path, &bytes).unwrap();
    let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
    assert_eq!(s.restore_report().corrupt, 1);
    let seqs: Vec<u64> = s.load().unwrap().messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 3]);
}

#[test]
fn a_bad_crc_on_the_last_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
        s.put_outgoing(&message(1, QoS::AtLeastOnce, OutgoingState::Queued, b"one")).unwrap();
        s.put_outgoing(&message(2, QoS::AtLeastOnce, OutgoingState::Queued, b"two")).unwrap();
    }
    let path = log_path(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();
    let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
    assert_eq!(s.restore_report().corrupt, 0);
    assert!(s.restore_report().truncated_bytes > 0);
    assert_eq!(s.load().unwrap().messages.len(), 1);
}

#[test]
fn a_store_of_a_newer_format_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    std::fs::write(log_path(dir.path()), record(K_HEADER, &body)).unwrap();
    let error = FileStore::open(dir.path(), Durability::None).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    assert!(error.to_string().contains("newer"), "{error}");
    // And the log is left as it was.
    assert_eq!(std::fs::read(log_path(dir.path())).unwrap(), record(K_HEADER, &body));
}

#[test]
fn something_that_is_no_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(log_path(dir.path()), b"hello, this is not a log at all").unwrap();
    assert!(FileStore::open(dir.path(), Durability::None).is_err());
}

#[test]
fn two_handles_never_share_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let first = FileStore::open(dir.path(), Durability::Batched).unwrap();
    let error = FileStore::open(dir.path(), Durability::Batched).unwrap_err();
    assert!(error.to_string().contains("in use"), "{error}");
    drop(first);
    FileStore::open(dir.path(), Durability::Batched).unwrap();
}

#[test]
fn compaction_keeps_live_records_and_shrinks_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let payload = vec![7u8; 64 * 1024];
    let mut max_len = 0;
    {
        let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
        s.put_outgoing(&message(1, QoS::ExactlyOnce, OutgoingState::AwaitingAck, b"keep")).unwrap();
        s.put_incoming_qos2(PacketId::new(9).unwrap()).unwrap();
        for seq in 2..200u64 {
            s.put_outgoing(&message(seq, QoS::AtLeastOnce, OutgoingState::Queued, &payload)).unwrap();
            s.put_outgoing(&message(seq, QoS::AtLeastOnce, OutgoingState::AwaitingAck, &payload)).unwrap();
            s.remove_outgoing(seq).unwrap();
            max_len = max_len.max(s.log_len());
        }
        // 200 x 2 x 64 KiB went through; what stays is one small message.
        assert!(max_len <= COMPACT_MIN_BYTES + 2 * 70 * 1024, "log grew to {max_len}");
        assert!(s.log_len() < COMPACT_MIN_BYTES);
        assert!(!dir.path().join(TMP).exists());
    }
    let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
    let loaded = s.load().unwrap();
    assert_eq!(loaded.messages, vec![message(1, QoS::ExactlyOnce, OutgoingState::AwaitingAck, b"keep")]);
    assert_eq!(loaded.incoming_qos2, vec![PacketId::new(9).unwrap()]);
    assert!(s.next_seq() >= 2, "numbers continue above every live message");
}

#[test]
fn a_full_disk_fails_the_write_and_leaves_the_log_whole() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = FileStore::open(dir.path(), Durability::Always).unwrap();
        s.put_outgoing(&message(1, QoS::AtLeastOnce, OutgoingState::Queued, b"one")).unwrap();
        s.fail_writes_beyond(Some(s.log_len() + 10));
        let error = s.put_outgoing(&message(2, QoS::AtLeastOnce, OutgoingState::Queued, b"two")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        assert!(s.load().unwrap().messages.len() == 1, "a refused record is not kept");
        // Space again: writing carries on after the cut-back record.
        s.fail_writes_beyond(None);
        s.put_outgoing(&message(3, QoS::AtLeastOnce, OutgoingState::Queued, b"three")).unwrap();
    }
    let mut s = FileStore::open(dir.path(), Durability::None).unwrap();
    assert_eq!(s.restore_report().corrupt, 0);
    assert_eq!(s.restore_report().truncated_bytes, 0);
    let seqs: Vec<u64> = s.load().unwrap().messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 3]);
}

fn request(qos: QoS) -> PublishRequest {
    PublishRequest {
        topic: "t".into(),
        payload: Bytes::from_static(b"x"),
        qos,
        retain: false,
        properties: PublishProperties::default(),
    }
}

#[test]
fn the_engine_refuses_a_publish_the_full_disk_cannot_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), Durability::None).unwrap();
    let mut session = Session::with_store(Config::new("c"), Box::new(store.clone()));
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    session.publish(now, 1, request(QoS::AtLeastOnce)).unwrap();
    store.fail_writes_beyond(Some(store.log_len()));
    let refused = session.publish(now, 2, request(QoS::AtLeastOnce)).unwrap_err();
    assert!(matches!(refused.error, crate::session::CommandError::Store(_)), "{:?}", refused.error);
    assert_eq!(session.queued(), 1);
    // QoS 0 is never recorded, so the full disk does not stop it.
    session.publish(now, 3, request(QoS::AtMostOnce)).unwrap();
}

#[test]
fn a_change_the_store_cannot_record_becomes_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path(), Durability::None).unwrap();
    let mut session = Session::with_store(Config::new("c"), Box::new(store.clone()));
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    session.publish(now, 1, request(QoS::AtLeastOnce)).unwrap();
    session.connection_opened(now);
    while session.poll_transmit(now).is_some() {}
    session.handle_packet(
        now,
        crate::codec::Packet::ConnAck(crate::codec::ConnAck {
            session_present: false,
            reason_code: crate::codec::ConnectReasonCode::Success,
            properties: Default::default(),
        }),
    );
    store.fail_writes_beyond(Some(store.log_len()));
    // The message goes in flight: its state change cannot be recorded.
    while session.poll_transmit(now).is_some() {}
    let mut errors = 0;
    while let Some(e) = session.poll_event() {
        if matches!(e, Event::StoreError { .. }) {
            errors += 1;
        }
    }
    assert_eq!(errors, 1);
}
