//! PINGREQ (3.12) and PINGRESP (3.13): two bytes each, no variable header or payload.
