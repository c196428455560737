package imserver

import "google.golang.org/protobuf/proto"

func (s *Server) sendFriendApply(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) sentFriendApplies(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) receivedFriendApplies(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) replyFriendApply(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) friendList(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) deleteFriend(c *call) (proto.Message, error) { return nil, errNotServed(c) }

