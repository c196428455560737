package imserver

import "google.golang.org/protobuf/proto"

func (s *Server) sendLiveMessage(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) receiveLiveMessages(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) liveUserCounter(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) joinLiveGroup(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) leaveLiveGroup(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) liveGroupMembers(c *call) (proto.Message, error) { return nil, errNotServed(c) }

