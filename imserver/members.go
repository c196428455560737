package imserver

import "google.golang.org/protobuf/proto"

func (s *Server) dissolveConversation(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) leaveConversation(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) addParticipants(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) removeParticipants(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) listParticipants(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) mgetParticipants(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) updateParticipant(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) blockMembers(c *call) (proto.Message, error) { return nil, errNotServed(c) }

func (s *Server) blockConversation(c *call) (proto.Message, error) { return nil, errNotServed(c) }

