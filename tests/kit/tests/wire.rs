//! `wire::analyze` on hand-built wire logs.

use tether_testkit::mqtt::{PUBACK, PUBCOMP, PUBREC, PUBREL};
use tether_testkit::wire::{analyze, AckRef, WireRecord};
use tether_testkit::Direction::{ClientToServer as Up, ServerToClient as Down};

fn publish_up(conn: u64, id: u16, qos: u8, dup: bool) -> WireRecord {
    WireRecord::publish(conn, Up, id, qos, dup)
}

fn publish_down(conn: u64, id: u16, qos: u8) -> WireRecord {
    WireRecord::publish(conn, Down, id, qos, false)
}

fn from_server(conn: u64, packet_type: u8, id: u16, reason: u8) -> WireRecord {
    WireRecord::ack(conn, Down, packet_type, id, reason)
}

fn from_client(conn: u64, packet_type: u8, id: u16, reason: u8) -> WireRecord {
    WireRecord::ack(conn, Up, packet_type, id, reason)
}

fn ack_ref(connection: u64, packet_type: u8, packet_id: u16, reason_code: u8) -> AckRef {
    AckRef { connection, packet_type, packet_id, reason_code }
}

#[test]
fn empty_log() {
    let r = analyze(&[]);
    assert_eq!(r.records, 0);
    assert_eq!(r.max_unfinished_up, 0);
    assert_eq!(r.receive_maximum_up, 65535);
    assert!(r.error_acks_from_server.is_empty());
}

#[test]
fn qos1_finishes_at_puback_qos2_at_pubcomp_and_dup_does_not_count() {
    let log = [
        WireRecord::connack(1, false, 0, Some(3)),
        publish_up(1, 1, 1, false),
        publish_up(1, 2, 2, false),
        publish_up(1, 1, 1, true), // a DUP of an unfinished id: still 2
        from_server(1, PUBACK, 1, 0),
        from_server(1, PUBREC, 2, 0), // QoS 2 stays unfinished after a successful PUBREC
        publish_up(1, 3, 1, false),
        publish_up(1, 4, 1, false), // 2, 3, 4
        from_client(1, PUBREL, 2, 0),
        from_server(1, PUBCOMP, 2, 0),
        from_server(1, PUBACK, 3, 0),
        publish_up(1, 1, 0, false), // QoS 0 never counts (the proxy does not log it either)
    ];
    let r = analyze(&log);
    assert_eq!(r.records, log.len());
    assert_eq!(r.max_unfinished_up, 3);
    assert_eq!(r.unfinished_up_at_end, 1);
    assert_eq!(r.receive_maximum_up, 3);
    assert_eq!(r.max_unfinished_down, 0);
    assert!(r.error_acks_from_server.is_empty());
}

#[test]
fn failing_acks_from_the_server_finish_the_message_and_are_listed() {
    let log = [
        publish_up(1, 1, 1, false),
        publish_up(1, 2, 2, false),
        publish_up(1, 3, 2, false),
        from_server(1, PUBACK, 1, 0x97),
        from_server(1, PUBREC, 2, 0x97), // a failing PUBREC ends the QoS 2 exchange
        from_server(1, PUBREC, 3, 0x10), // 0x10 No matching subscribers is a success
    ];
    let r = analyze(&log);
    assert_eq!(r.max_unfinished_up, 3);
    assert_eq!(r.unfinished_up_at_end, 1);
    assert_eq!(r.error_acks_from_server, vec![ack_ref(1, PUBACK, 1, 0x97), ack_ref(1, PUBREC, 2, 0x97)]);
}

#[test]
fn unfinished_messages_carry_over_until_a_clean_connack() {
    let log = [
        WireRecord::connack(1, false, 0, Some(20)),
        publish_up(1, 1, 1, false),
        publish_up(1, 2, 1, false),
        // Cut; the session is resumed: the resends are the same two messages, plus a new one.
        WireRecord::connack(2, true, 0, None),
        publish_up(2, 1, 1, true),
        publish_up(2, 2, 1, true),
        publish_up(2, 3, 1, false),
        // A refused connection leaves the session alone.
        WireRecord::connack(3, false, 0x87, None),
        // The client sends before the CONNACK of a clean start: that message is the new session's.
        publish_up(4, 9, 1, false),
        WireRecord::connack(4, false, 0, Some(10)),
        publish_up(4, 10, 1, false),
    ];
    let r = analyze(&log);
    assert_eq!(r.max_unfinished_up, 4); // 1, 2, 3 and 9, just before connection 4's CONNACK
    assert_eq!(r.unfinished_up_at_end, 2); // 9 and 10
    assert_eq!(r.receive_maximum_up, 10);
}

#[test]
fn receive_maximum_is_the_smallest_announced_and_absent_means_65535() {
    let r = analyze(&[WireRecord::connack(1, false, 0, None)]);
    assert_eq!(r.receive_maximum_up, 65535);
    let r = analyze(&[
        WireRecord::connack(1, false, 0, Some(100)),
        WireRecord::connack(2, true, 0, Some(7)),
        WireRecord::connack(3, true, 0, None),
    ]);
    assert_eq!(r.receive_maximum_up, 7);
}

#[test]
fn server_to_client_messages_finish_with_the_clients_acks() {
    let log = [
        publish_down(1, 1, 1),
        publish_down(1, 2, 2),
        publish_down(1, 3, 2),
        from_client(1, PUBACK, 1, 0),
        from_client(1, PUBREC, 2, 0),
        from_client(1, PUBREC, 3, 0x80), // refused by the client: finished
        from_server(1, PUBREL, 2, 0),
        from_client(1, PUBCOMP, 2, 0),
    ];
    let r = analyze(&log);
    assert_eq!(r.max_unfinished_down, 3);
    assert_eq!(r.unfinished_down_at_end, 0);
    assert_eq!(r.max_unfinished_up, 0);
    assert!(r.duplicate_acks_from_client.is_empty());
    assert!(r.client_acks_without_publish.is_empty());
    // Failing acks from the client are not the server's errors.
    assert!(r.error_acks_from_server.is_empty());
}

#[test]
fn duplicate_acks_from_the_client() {
    let log = [
        publish_down(1, 5, 1),
        from_client(1, PUBACK, 5, 0),
        from_client(1, PUBACK, 5, 0), // twice for one delivery
        publish_down(1, 5, 1),        // the id is used again: one more ack is due
        from_client(1, PUBACK, 5, 0),
        publish_down(1, 6, 2),
        from_client(1, PUBREC, 6, 0),
        from_client(1, PUBREC, 6, 0),
        // A PUBACK and a PUBREC for the same id are counted apart.
        publish_down(1, 7, 2),
        from_client(1, PUBREC, 7, 0),
        from_client(1, PUBACK, 7, 0),
        // A new connection starts over: one ack per delivery on it.
        WireRecord::connack(2, true, 0, None),
        publish_down(2, 5, 1),
        from_client(2, PUBACK, 5, 0),
    ];
    let r = analyze(&log);
    assert_eq!(r.duplicate_acks_from_client, vec![ack_ref(1, PUBACK, 5, 0), ack_ref(1, PUBREC, 6, 0)]);
    assert!(r.client_acks_without_publish.is_empty());
}

#[test]
fn client_acks_without_a_publish_on_that_connection() {
    let log = [
        publish_down(1, 8, 2),
        from_client(1, PUBREC, 8, 0),
        // Reconnect: the client sends the PUBREC it kept before the server resends the PUBLISH.
        WireRecord::connack(2, true, 0, None),
        from_client(2, PUBREC, 8, 0),
        publish_down(2, 8, 2),
        from_client(2, PUBREC, 8, 0),
        // An ack for an id never published at all, sent twice.
        from_client(2, PUBACK, 99, 0),
        from_client(2, PUBACK, 99, 0),
    ];
    let r = analyze(&log);
    assert_eq!(
        r.client_acks_without_publish,
        vec![ack_ref(2, PUBREC, 8, 0), ack_ref(2, PUBACK, 99, 0), ack_ref(2, PUBACK, 99, 0)]
    );
    assert_eq!(r.duplicate_acks_from_client, vec![ack_ref(2, PUBACK, 99, 0)]);
    assert_eq!(r.unfinished_down_at_end, 1); // 8 waits for its PUBCOMP
}

#[test]
fn json_lists_are_cut_but_counts_are_complete() {
    let log: Vec<WireRecord> = (0..150).map(|i| from_server(1, PUBACK, i, 0x97)).collect();
    let r = analyze(&log);
    let json = r.to_json();
    assert!(json.starts_with("{\"records\":150,\"dropped_records\":0,"), "{json}");
    assert!(json.ends_with('}'));
    assert!(json.contains("\"error_acks_from_server_count\":150"), "{json}");
    assert_eq!(json.matches("\"reason_code\":151").count(), 100);
    assert!(json.contains("\"duplicate_acks_from_client\":[],\"duplicate_acks_from_client_count\":0"));
}
